package dev.turnout.edge.it;

import dev.turnout.proto.Presence;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;

import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;

/** Plays the orchestrator: records status events of a device and publishes signed desired states. */
final class StatusRecorder implements AutoCloseable {

    record Seen(StatusEvent event, long nanoTime) {
    }

    private final MqttAsyncClient client;
    private final List<Seen> events = new CopyOnWriteArrayList<>();
    private final List<Presence> presences = new CopyOnWriteArrayList<>();

    StatusRecorder(String brokerUrl, Topics topics, String deviceId) throws MqttException {
        client = new MqttAsyncClient(brokerUrl, "it-orch-" + UUID.randomUUID().toString().substring(0, 8), new MemoryPersistence());
        client.setCallback(new MqttCallback() {
            @Override
            public void disconnected(MqttDisconnectResponse response) {
            }

            @Override
            public void mqttErrorOccurred(MqttException exception) {
            }

            @Override
            public void messageArrived(String topic, MqttMessage message) throws Exception {
                if (topic.endsWith("/presence")) {
                    presences.add(Presence.parseFrom(message.getPayload()));
                    return;
                }
                events.add(new Seen(StatusEvent.parseFrom(message.getPayload()), System.nanoTime()));
            }

            @Override
            public void deliveryComplete(IMqttToken token) {
            }

            @Override
            public void connectComplete(boolean reconnect, String serverURI) {
            }

            @Override
            public void authPacketArrived(int reasonCode, MqttProperties properties) {
            }
        });
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setCleanStart(true);
        client.connect(options).waitForCompletion(10_000);
        client.subscribe(new MqttSubscription[] {new MqttSubscription(topics.status(deviceId), 1),
                new MqttSubscription(topics.presence(deviceId), 1)}).waitForCompletion(10_000);
    }

    void publishRetained(String topic, byte[] payload) throws MqttException {
        client.publish(topic, payload, 1, true).waitForCompletion(10_000);
    }

    List<Seen> seen() {
        return List.copyOf(events);
    }

    /** The newest presence seen, if any. */
    java.util.Optional<Presence> presence() {
        return presences.isEmpty() ? java.util.Optional.empty() : java.util.Optional.of(presences.get(presences.size() - 1));
    }

    List<StatusEvent> events() {
        return events.stream().map(Seen::event).toList();
    }

    @Override
    public void close() throws MqttException {
        client.disconnect(1_000).waitForCompletion(5_000);
        client.close();
    }
}
