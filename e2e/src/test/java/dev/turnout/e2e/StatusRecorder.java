package dev.turnout.e2e;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** A monitoring subscriber: records every StatusEvent on the status topics, with arrival time. */
final class StatusRecorder implements MqttCallback, AutoCloseable {

    record Received(long nanoTime, StatusEvent event) {
    }

    private final MqttClient client;
    private final List<Received> events = new ArrayList<>();

    /** Connects as a monitor user ({@code turnout user add NAME --role monitor}): user name = client id. */
    StatusRecorder(String brokerUrl, Topics topics, String user, String password) throws MqttException {
        client = new MqttClient(brokerUrl, user, new MemoryPersistence());
        client.setCallback(this);
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setCleanStart(true);
        options.setUserName(user);
        options.setPassword(password.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        client.connect(options);
        client.subscribe(new MqttSubscription[] {new MqttSubscription(topics.allStatus(), 1)});
    }

    synchronized List<StatusEvent> of(String deviceId) {
        return events.stream().map(Received::event).filter(e -> e.getDeviceId().equals(deviceId)).toList();
    }

    synchronized Optional<Received> first(String deviceId, String version, UpdateState state) {
        return events.stream()
                .filter(r -> r.event().getDeviceId().equals(deviceId) && r.event().getVersion().equals(version) && r.event().getState() == state)
                .findFirst();
    }

    @Override
    public synchronized void messageArrived(String topic, MqttMessage message) {
        try {
            events.add(new Received(System.nanoTime(), StatusEvent.parseFrom(message.getPayload())));
        } catch (InvalidProtocolBufferException e) {
            throw new AssertionError("undecodable status event on " + topic, e);
        }
    }

    @Override
    public void disconnected(MqttDisconnectResponse response) {
    }

    @Override
    public void mqttErrorOccurred(MqttException exception) {
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

    @Override
    public void close() throws MqttException {
        client.disconnect();
        client.close();
    }
}
