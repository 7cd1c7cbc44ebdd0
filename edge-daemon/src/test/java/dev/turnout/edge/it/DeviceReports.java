package dev.turnout.edge.it;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.turnout.proto.Presence;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.testsupport.MqttRecorder;
import org.eclipse.paho.mqttv5.common.MqttException;

/**
 * The orchestrator's side of one device in these tests: a recorder of the device's status events and
 * presence that also publishes its signed desired states.
 */
final class DeviceReports {

    private DeviceReports() {
    }

    static MqttRecorder<Message> record(String brokerUrl, Topics topics, String deviceId) throws MqttException {
        return MqttRecorder.connect(brokerUrl, MqttRecorder.Login.anonymous(), DeviceReports::decode,
                topics.status(deviceId), topics.presence(deviceId));
    }

    private static Message decode(String topic, byte[] payload) throws InvalidProtocolBufferException {
        return topic.endsWith("/presence") ? Presence.parseFrom(payload) : StatusEvent.parseFrom(payload);
    }
}
