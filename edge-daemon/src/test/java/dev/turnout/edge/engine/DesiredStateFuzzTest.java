package dev.turnout.edge.engine;

import ch.qos.logback.classic.Level;
import com.google.protobuf.ByteString;
import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.mqtt.MqttLink;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.KeyRotation;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Presence;
import dev.turnout.proto.SignedEnvelope;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.TrustedKey;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static dev.turnout.edge.engine.Fixtures.PLATFORM;
import static dev.turnout.edge.engine.Fixtures.activate;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Mutated and random inputs through the real MQTT message handler ({@link MqttLink#deliver}, what the Paho
 * callback calls) into the real verifier, engine and file store. Unsigned garbage never throws and never
 * changes anything; signed garbage never throws and leaves every app at rest with only its own container.
 */
class DesiredStateFuzzTest {

    private static final int UNSIGNED_INPUTS = 100_000;
    private static final int SIGNED_INPUTS = 10_000;
    private static final long SEED = Long.getLong("fuzz.seed", 20261123L);

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final SigningKey stranger = SigningKey.generate();
    private final FakeRuntime runtime = new FakeRuntime();
    private final AtomicInteger rejected = new AtomicInteger();
    private final List<StatusEvent> otherEvents = new ArrayList<>();
    private final Topics topics = Topics.defaults();
    private FileStateStore store;
    private UpdateEngine engine;
    private MqttLink link;
    private Level savedLevel;

    @BeforeEach
    void setUp() throws Exception {
        store = new FileStateStore(dir.resolve("state"));
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
        DesiredStateVerifier verifier = Fixtures.verifier(store, key);
        engine = new UpdateEngine(DEVICE, PLATFORM, verifier, store, artifacts, runtime, (id, check) -> { }, event -> {
            if (event.getState() == UpdateState.REJECTED) {
                rejected.incrementAndGet();
            } else {
                otherEvents.add(event);
            }
        }, () -> NOW);
        // never connected: the handler is fed directly, as the Paho callback would
        link = new MqttLink("tcp://127.0.0.1:9", DEVICE, topics, null, null, engine::onDesiredState,
                () -> Presence.getDefaultInstance(), List::of);
        link.deliver(topics.desired(DEVICE), key.seal(activate(10, "2.0.0")).toByteArray());
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
        otherEvents.clear();
        ch.qos.logback.classic.Logger edgeLog = (ch.qos.logback.classic.Logger) LoggerFactory.getLogger("dev.turnout.edge");
        savedLevel = edgeLog.getLevel();
        edgeLog.setLevel(Level.ERROR); // 100,000 refusals would otherwise print 100,000 warnings
    }

    @AfterEach
    void tearDown() {
        ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger("dev.turnout.edge")).setLevel(savedLevel);
        link.close();
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS) // a hang guard: 10 s on a quiet machine, 97 s seen under a load of 20
    void unsignedGarbageNeverThrowsAndNeverChangesState() {
        List<byte[]> seeds = seedEnvelopes();
        Map<String, String> filesBefore = TrustRulesTest.snapshot(dir);
        List<String> callsBefore = List.copyOf(runtime.calls);
        Random random = new Random(SEED);
        long start = System.nanoTime();
        for (int i = 0; i < UNSIGNED_INPUTS; i++) {
            byte[] input = i % 10 == 9 ? randomBytes(random) : mutate(seeds.get(random.nextInt(seeds.size())), seeds, random);
            String topic = i % 1000 == 999 ? topics.status(DEVICE) : topics.desired(DEVICE);
            try {
                link.deliver(topic, input);
            } catch (RuntimeException | Error e) {
                fail("input " + i + " (seed " + SEED + ") threw " + e, e);
            }
        }
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        System.out.printf("fuzz: %d unsigned inputs in %d ms, %d refused%n", UNSIGNED_INPUTS, millis, rejected.get());

        assertThat(otherEvents).as("only refusals are reported").isEmpty();
        assertThat(rejected.get()).as("most garbage is refused out loud").isGreaterThan(UNSIGNED_INPUTS / 2);
        assertThat(TrustRulesTest.snapshot(dir)).as("data directory").isEqualTo(filesBefore);
        assertThat(runtime.calls).as("container engine calls").isEqualTo(callsBefore);
        // and the daemon still works
        link.deliver(topics.desired(DEVICE), key.seal(activate(11, "3.0.0")).toByteArray());
        assertThat(runtime.runningVersions()).containsExactly("3.0.0");
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS) // a hang guard: 10 s on a quiet machine, 97 s seen under a load of 20
    void signedGarbageNeverThrowsAndLeavesEveryAppAtRest() {
        byte[] valid = activate(11, "3.0.0").toBuilder()
                .addApps(AppDesired.newBuilder().setApp("db").setRelease(Fixtures.release("1.0.0").toBuilder().setApp("db"))
                        .setPhase(Phase.STAGE))
                .build().toByteArray();
        Random random = new Random(SEED + 1);
        long start = System.nanoTime();
        for (int i = 0; i < SIGNED_INPUTS; i++) {
            byte[] payload = i % 10 == 9 ? randomBytes(random) : mutate(valid, List.of(valid), random);
            SignedEnvelope envelope = SignedEnvelope.newBuilder().setPayload(ByteString.copyFrom(payload))
                    .setSignature(ByteString.copyFrom(key.sign(payload))).setKeyId(key.keyId()).build();
            try {
                link.deliver(topics.desired(DEVICE), envelope.toByteArray());
            } catch (RuntimeException | Error e) {
                fail("signed input " + i + " (seed " + (SEED + 1) + ") threw " + e, e);
            }
        }
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        System.out.printf("fuzz: %d signed inputs in %d ms, %d refused, %d other events%n", SIGNED_INPUTS, millis, rejected.get(),
                otherEvents.size());

        Set<UpdateState> resting = EnumSet.of(UpdateState.IDLE, UpdateState.STAGED, UpdateState.ACTIVE, UpdateState.ROLLED_BACK,
                UpdateState.FAILED, UpdateState.WAITING_FOR_WINDOW);
        List<String> recordContainers = new ArrayList<>();
        for (AppRecord record : store.loadApps()) {
            assertThat(record.state()).as("state of %s", record.app()).isIn(resting);
            assertThat(record.newContainerId()).as("no half-applied container for %s", record.app()).isEmpty();
            recordContainers.add(record.containerId());
        }
        assertThat(runtime.containers.entrySet()).as("every container that runs belongs to an app record")
                .allMatch(c -> !c.getValue().running() || recordContainers.contains(c.getKey()));
        assertThat(store.loadApp("web").orElseThrow().runningVersion()).isNotEmpty();
    }

    /** Valid envelopes the device has seen (sequence <= 10), by the trusted key and by a stranger. */
    private List<byte[]> seedEnvelopes() {
        List<byte[]> seeds = new ArrayList<>();
        seeds.add(key.seal(activate(10, "2.0.0")).toByteArray());
        seeds.add(key.seal(activate(9, "9.0.0")).toByteArray());
        seeds.add(key.seal(Fixtures.desired(8, "1.0.0", Phase.STAGE, true)).toByteArray());
        seeds.add(key.seal(activate(7, "2.0.0").toBuilder().setKeyRotation(KeyRotation.newBuilder().addKeys(TrustedKey.newBuilder()
                .setKeyId(stranger.keyId()).setPublicKey(ByteString.copyFrom(stranger.publicKey().raw())))).build()).toByteArray());
        seeds.add(stranger.seal(activate(99, "9.9.9")).toByteArray());
        seeds.add(key.seal(DesiredState.newBuilder().setDeviceId(DEVICE).setSequence(10).build()).toByteArray());
        return seeds;
    }

    private static byte[] randomBytes(Random random) {
        int length = switch (random.nextInt(20)) {
            case 0 -> 0;
            case 1 -> (1 << 20) + random.nextInt(1024); // over the envelope limit
            default -> random.nextInt(600);
        };
        byte[] bytes = new byte[length];
        random.nextBytes(bytes);
        return bytes;
    }

    /** One to three byte-level mutations: flips, overwrites, cuts, insertions, duplications, splices. */
    private static byte[] mutate(byte[] original, List<byte[]> others, Random random) {
        byte[] b = original.clone();
        int rounds = 1 + random.nextInt(3);
        for (int r = 0; r < rounds && b.length > 0; r++) {
            int at = random.nextInt(b.length);
            switch (random.nextInt(8)) {
                case 0 -> b[at] ^= (byte) (1 << random.nextInt(8));
                case 1 -> b[at] = (byte) random.nextInt(256);
                case 2 -> b[at] = (byte) (random.nextBoolean() ? 0x00 : 0xff);
                case 3 -> b = Arrays.copyOf(b, at); // truncate
                case 4 -> { // insert random bytes
                    byte[] extra = new byte[1 + random.nextInt(16)];
                    random.nextBytes(extra);
                    b = concat(Arrays.copyOf(b, at), extra, Arrays.copyOfRange(b, at, b.length));
                }
                case 5 -> { // duplicate a chunk
                    int len = Math.min(b.length - at, 1 + random.nextInt(64));
                    b = concat(Arrays.copyOf(b, at + len), Arrays.copyOfRange(b, at, at + len), Arrays.copyOfRange(b, at + len, b.length));
                }
                case 6 -> { // splice with another input
                    byte[] other = others.get(random.nextInt(others.size()));
                    int from = random.nextInt(other.length);
                    b = concat(Arrays.copyOf(b, at), Arrays.copyOfRange(other, from, other.length));
                }
                default -> { // a varint length or tag blown up
                    b[at] = (byte) (0x80 | random.nextInt(128));
                }
            }
        }
        return b;
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
