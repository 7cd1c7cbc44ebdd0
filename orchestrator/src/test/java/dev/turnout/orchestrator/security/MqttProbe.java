package dev.turnout.orchestrator.security;

import dev.turnout.testsupport.MessageCallback;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A raw MQTT 5 client for the security matrix: what an attacker or a monitor would run. */
final class MqttProbe implements MessageCallback, AutoCloseable {

    record Received(String topic, byte[] payload, boolean retained) {
    }

    private final MqttAsyncClient client;
    final List<Received> received = new CopyOnWriteArrayList<>();

    private MqttProbe(MqttAsyncClient client) {
        this.client = client;
    }

    /** Connects or throws {@link MqttException} (refused, bad credentials). A null user connects anonymously. */
    static MqttProbe connect(String url, String clientId, String user, String password) throws MqttException {
        MqttAsyncClient client = new MqttAsyncClient(url, clientId, new MemoryPersistence());
        MqttProbe probe = new MqttProbe(client);
        client.setCallback(probe);
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setCleanStart(true);
        options.setConnectionTimeout(10);
        if (user != null) {
            options.setUserName(user);
            options.setPassword(password.getBytes(StandardCharsets.UTF_8));
        }
        try {
            client.connect(options).waitForCompletion(15_000);
        } catch (MqttException e) {
            client.close(true);
            throw e;
        }
        if (!client.isConnected()) {
            client.close(true);
            throw new MqttException(MqttException.REASON_CODE_CLIENT_EXCEPTION);
        }
        return probe;
    }

    /** Subscribes; true when the broker granted it (reason code below 0x80). */
    boolean subscribe(String filter) {
        try {
            IMqttToken token = client.subscribe(new MqttSubscription[] {new MqttSubscription(filter, 1)});
            token.waitForCompletion(10_000);
            return granted(token);
        } catch (MqttException | RuntimeException e) {
            // refused; a broker that drops the connection can make Paho 1.2.5 throw an NPE from its disconnect thread
            return false;
        }
    }

    /** Publishes at QoS 1; true when the broker acknowledged it as accepted. */
    boolean publish(String topic, byte[] payload, boolean retained) {
        try {
            MqttMessage message = new MqttMessage(payload);
            message.setQos(1);
            message.setRetained(retained);
            IMqttToken token = client.publish(topic, message);
            token.waitForCompletion(10_000);
            return granted(token);
        } catch (MqttException | RuntimeException e) {
            // refused; a broker that drops the connection can make Paho 1.2.5 throw an NPE from its disconnect thread
            return false;
        }
    }

    boolean isConnected() {
        return client.isConnected();
    }

    private static boolean granted(IMqttToken token) {
        int[] codes = token.getReasonCodes();
        if (codes == null) {
            return true;
        }
        for (int code : codes) {
            if (code >= 0x80) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void messageArrived(String topic, MqttMessage message) {
        received.add(new Received(topic, message.getPayload(), message.isRetained()));
    }

    @Override
    public void close() {
        try {
            if (client.isConnected()) {
                client.disconnect(1_000).waitForCompletion(5_000);
            }
        } catch (MqttException | RuntimeException ignored) {
            // closing anyway (Paho 1.2.5 may throw an NPE when the broker dropped the connection meanwhile)
        }
        try {
            client.close(true);
        } catch (MqttException | RuntimeException ignored) {
            // closing anyway
        }
    }
}
