package dev.turnout.edge.engine;

import com.google.protobuf.ByteString;
import com.sun.net.httpserver.HttpServer;
import dev.turnout.edge.cache.ArtifactCache;
import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.proto.SignedEnvelope;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.stream.Stream;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static dev.turnout.edge.engine.Fixtures.PLATFORM;
import static dev.turnout.edge.engine.Fixtures.activate;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every trust rule, one row each, on a device that runs 2.0.0 after sequence 10: the refused message gives
 * one REJECTED event with the rule's reason, and neither the data directory nor the container engine changes.
 */
class TrustRulesTest {

    private static final long HOUR = 3_600_000;

    @TempDir
    Path dir;

    private static final SigningKey KEY = SigningKey.generate();
    private static final SigningKey STRANGER = SigningKey.generate();
    private final FakeRuntime runtime = new FakeRuntime();
    private final List<StatusEvent> events = new ArrayList<>();
    private final AtomicLong wallClock = new AtomicLong(NOW);
    private final AtomicBoolean clockSynced = new AtomicBoolean(true);
    private UpdateEngine engine;

    /** A row: how the device's clock stands, then the message it receives. */
    record Row(String rule, long wallClockMs, boolean synced, Function<Long, byte[]> message, Reason reason) {
        @Override
        public String toString() {
            return rule;
        }
    }

    static Stream<Arguments> rules() {
        return Stream.of(
                new Row("unknown key", NOW, true, seq -> STRANGER.seal(activate(seq, "3.0.0")).toByteArray(), Reason.UNKNOWN_KEY),
                new Row("bad signature", NOW, true, seq -> flipSignature(KEY.seal(activate(seq, "3.0.0"))), Reason.BAD_SIGNATURE),
                new Row("not an envelope", NOW, true, seq -> new byte[] {(byte) 0xff, 1, 2}, Reason.MALFORMED),
                new Row("wrong device", NOW, true, seq -> seal(activate(seq, "3.0.0").toBuilder().setDeviceId("pi-2").build()),
                        Reason.WRONG_DEVICE),
                new Row("older sequence", NOW, true, seq -> seal(activate(9, "3.0.0")), Reason.REPLAY),
                new Row("downgrade without signed rollback", NOW, true, seq -> seal(activate(seq, "1.0.0")), Reason.DOWNGRADE),
                new Row("expired by a synced clock", NOW + 3 * HOUR, true, seq -> seal(activate(seq, "3.0.0")), Reason.EXPIRED),
                new Row("expired by the time floor while the clock is back in 1970", 0, false,
                        seq -> seal(withTimes(activate(seq, "3.0.0"), NOW - 3 * HOUR, NOW - 2 * HOUR)), Reason.EXPIRED),
                new Row("expired only by an unsynced clock", NOW + 3 * HOUR, false, seq -> seal(activate(seq, "3.0.0")),
                        Reason.CLOCK_UNTRUSTED),
                new Row("no archive for this platform", NOW, true, seq -> seal(otherPlatform(activate(seq, "3.0.0"))),
                        Reason.NO_IMAGE_FOR_PLATFORM),
                new Row("issued after it expires", NOW, true, seq -> seal(withTimes(activate(seq, "3.0.0"), NOW + 2 * HOUR, NOW + HOUR)),
                        Reason.MALFORMED),
                new Row("signed payload that is not a desired state", NOW, true, seq -> sealRaw(new byte[] {(byte) 0xff, (byte) 0xff}),
                        Reason.MALFORMED)
        ).map(Arguments::of);
    }

    @BeforeEach
    void runVersionTwo() {
        FileStateStore store = new FileStateStore(dir.resolve("state"));
        ArtifactSource artifacts = new ArtifactSource() {
            @Override
            public boolean isCached(ImageArtifact artifact) {
                return true;
            }

            @Override
            public Path fetch(ImageArtifact artifact) throws UpdateFailure {
                return dir.resolve(Fixtures.version(artifact) + ".tar");
            }

            @Override
            public void retainOnly(Collection<String> keepDigests) {
            }
        };
        DesiredStateVerifier verifier = new DesiredStateVerifier(DEVICE, PLATFORM, new EnvelopeVerifier(List.of(KEY.publicKey())), store,
                wallClock::get, clockSynced::get, app -> store.loadApp(app).map(AppRecord::runningVersion).orElse(""));
        engine = new UpdateEngine(DEVICE, PLATFORM, verifier, store, artifacts, runtime, (id, check) -> { }, events::add, wallClock::get);
        engine.onDesiredState(seal(activate(10, "2.0.0")));
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
        events.clear();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rules")
    void refusedWithItsReasonAndNothingChanges(Row row) {
        wallClock.set(row.wallClockMs());
        clockSynced.set(row.synced());
        Map<String, String> filesBefore = snapshot(dir);
        List<String> engineCallsBefore = List.copyOf(runtime.calls);

        engine.onDesiredState(row.message().apply(11L));

        assertThat(events).extracting(StatusEvent::getState).containsExactly(UpdateState.REJECTED);
        assertThat(events.get(0).getReason()).isEqualTo(row.reason());
        assertThat(events.get(0).getMessage()).isNotBlank();
        assertThat(snapshot(dir)).as("data directory").isEqualTo(filesBefore);
        assertThat(runtime.calls).as("container engine calls").isEqualTo(engineCallsBefore);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");

        // the refusal did not consume the sequence: the same sequence, properly signed, still works
        wallClock.set(NOW);
        clockSynced.set(true);
        engine.onDesiredState(seal(activate(11, "3.0.0")));
        assertThat(runtime.runningVersions()).containsExactly("3.0.0");
    }

    @Test
    void anArchiveLongerThanSignedIsCutOffAndNothingElseChanges() throws Exception {
        byte[] signed = new byte[5000];
        new java.util.Random(3).nextBytes(signed);
        byte[] served = java.util.Arrays.copyOf(signed, signed.length + 4096); // a server (or a man in the middle) sends more
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/a", exchange -> {
            exchange.sendResponseHeaders(200, served.length);
            try (var out = exchange.getResponseBody()) {
                out.write(served);
            }
        });
        server.start();
        try {
            Path cacheDir = dir.resolve("cache");
            FileStateStore store = new FileStateStore(dir.resolve("state"));
            DesiredStateVerifier verifier = new DesiredStateVerifier(DEVICE, PLATFORM, new EnvelopeVerifier(List.of(KEY.publicKey())), store,
                    wallClock::get, clockSynced::get, app -> store.loadApp(app).map(AppRecord::runningVersion).orElse(""));
            UpdateEngine real = new UpdateEngine(DEVICE, PLATFORM, verifier, store,
                    new ArtifactCache(cacheDir, "http://127.0.0.1:" + server.getAddress().getPort(), 0, Duration.ZERO), runtime,
                    (id, check) -> { }, events::add, wallClock::get);
            DesiredState state = activate(11, "3.0.0");
            ImageArtifact image = state.getApps(0).getRelease().getImages(0).toBuilder()
                    .setArchiveDigest(dev.turnout.edge.cache.TestBundles.digest(signed)).setSize(signed.length).setUrl("/a").build();
            state = state.toBuilder().setApps(0, state.getApps(0).toBuilder().setRelease(state.getApps(0).getRelease().toBuilder()
                    .setImages(0, image))).build();
            List<String> engineCallsBefore = List.copyOf(runtime.calls);

            real.onDesiredState(seal(state));

            assertThat(events).extracting(StatusEvent::getState).containsExactly(UpdateState.DOWNLOADING, UpdateState.FAILED);
            assertThat(events.get(1).getReason()).isEqualTo(Reason.SIZE_MISMATCH);
            assertThat(events.get(1).getRunningVersion()).isEqualTo("2.0.0");
            assertThat(cacheDir).isEmptyDirectory();
            assertThat(runtime.calls).isEqualTo(engineCallsBefore);
            assertThat(runtime.runningVersions()).containsExactly("2.0.0");
        } finally {
            server.stop(0);
        }
    }

    private static byte[] seal(DesiredState state) {
        return KEY.seal(state).toByteArray();
    }

    private static byte[] sealRaw(byte[] payload) {
        return SignedEnvelope.newBuilder().setPayload(ByteString.copyFrom(payload)).setSignature(ByteString.copyFrom(KEY.sign(payload)))
                .setKeyId(KEY.keyId()).build().toByteArray();
    }

    private static byte[] flipSignature(SignedEnvelope envelope) {
        byte[] sig = envelope.getSignature().toByteArray();
        sig[5] ^= 0x01;
        return envelope.toBuilder().setSignature(ByteString.copyFrom(sig)).build().toByteArray();
    }

    private static DesiredState withTimes(DesiredState state, long issuedAt, long expiresAt) {
        return state.toBuilder().setIssuedAtMs(issuedAt).setExpiresAtMs(expiresAt).build();
    }

    private static DesiredState otherPlatform(DesiredState state) {
        return state.toBuilder().setApps(0, state.getApps(0).toBuilder().setRelease(state.getApps(0).getRelease().toBuilder()
                .setImages(0, state.getApps(0).getRelease().getImages(0).toBuilder().setPlatform("linux/arm/v7")))).build();
    }

    /** Every file under {@code root} with its content. */
    static Map<String, String> snapshot(Path root) {
        Map<String, String> files = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                files.put(root.relativize(p).toString(), new String(Files.readAllBytes(p), java.nio.charset.StandardCharsets.ISO_8859_1));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return files;
    }
}
