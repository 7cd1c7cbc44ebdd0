package dev.turnout.orchestrator.engine;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.turnout.orchestrator.port.FleetTransport;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.RolloutEvent;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.proto.crypto.VerificationException;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Records what the engine publishes, verifying every desired state with the orchestrator's public key. */
public final class FakeFleetTransport implements FleetTransport {

    /** One desired state as a device would see it; {@code background}: published as one no wave waits on. */
    public record Published(String deviceId, DesiredState state, boolean background) {
    }

    private final EnvelopeVerifier verifier;
    private final List<Published> desired = new ArrayList<>();
    private final List<RolloutEvent> events = new ArrayList<>();

    public FakeFleetTransport(PublicKey key) {
        this.verifier = new EnvelopeVerifier(List.of(key));
    }

    @Override
    public void publishDesired(String deviceId, byte[] signedEnvelope) {
        record(deviceId, signedEnvelope, false);
    }

    @Override
    public void publishDesiredInBackground(String deviceId, byte[] signedEnvelope) {
        record(deviceId, signedEnvelope, true);
    }

    private synchronized void record(String deviceId, byte[] signedEnvelope, boolean background) {
        try {
            desired.add(new Published(deviceId, DesiredState.parseFrom(verifier.open(signedEnvelope)), background));
        } catch (VerificationException | InvalidProtocolBufferException e) {
            throw new AssertionError("published a desired state a device would refuse", e);
        }
    }

    @Override
    public synchronized void publishRolloutEvent(RolloutEvent event) {
        events.add(event);
    }

    public synchronized List<DesiredState> desiredOf(String deviceId) {
        return desired.stream().filter(p -> p.deviceId().equals(deviceId)).map(Published::state).toList();
    }

    public synchronized Optional<DesiredState> latest(String deviceId) {
        List<DesiredState> all = desiredOf(deviceId);
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    public synchronized Optional<AppDesired> latestApp(String deviceId, String app) {
        return latest(deviceId).flatMap(s -> s.getAppsList().stream().filter(a -> a.getApp().equals(app)).findFirst());
    }

    /** Every desired state published for {@code deviceId}, in order, with how it was published. */
    public synchronized List<Published> publishedTo(String deviceId) {
        return desired.stream().filter(p -> p.deviceId().equals(deviceId)).toList();
    }

    public synchronized int desiredCount() {
        return desired.size();
    }

    public synchronized List<RolloutEvent> events() {
        return List.copyOf(events);
    }
}
