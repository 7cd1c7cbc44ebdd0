package dev.turnout.broker;

import com.hivemq.configuration.service.InternalConfigurations;
import com.hivemq.migration.meta.PersistenceType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Where and how the embedded broker keeps retained messages, sessions and queued messages.
 *
 * <p>{@link #DEFAULT} keeps them in memory ({@link Mode#MEMORY}). The embedded broker lives and dies with the
 * orchestrator that holds it, and everything it holds is given again after a restart: the orchestrator
 * subscribes to the devices' reports before they are let in and republishes every desired state (retained), and every device
 * subscribes again and reports its presence and the current status of each app when it reconnects. What only
 * a store on disk would keep — a report the broker accepted in the last instant before the process died,
 * a queued desired state — is superseded by those. Writing each QoS 1 message to disk three times (queued,
 * in flight, acknowledged) halved the broker's rate (docs/benchmarks.md, issue 22).
 *
 * <p>{@link Mode#FILE} keeps them on disk. HiveMQ CE's defaults are made for a server that owns its disk: 64 buckets per store, and the
 * retained-message and payload stores in RocksDB, which preallocates a 4 MiB manifest and a write-ahead
 * log scaled to the machine's memory for every bucket — about 520 MiB of disk before the first device
 * connects, 1.4–2.4 GB during a 10,000-device rollout. Turnout's broker holds one retained desired
 * state and one presence per device and a short queue for the orchestrator, so {@link Mode#FILE} puts
 * every store in Xodus (append-only log files of 1 MiB, written as data arrives, nothing preallocated)
 * in {@code buckets} buckets. {@link Mode#MEMORY} keeps nothing on disk: after a restart devices get
 * their desired state again because the orchestrator republishes every one at start.
 *
 * <p>These settings are HiveMQ's JVM-wide internal configuration: one embedded broker per JVM.
 *
 * @param mode    file (survives a restart) or memory
 * @param buckets how many buckets each store is split into, 1 to 64; more buckets, more parallel
 *                writers and more files
 */
public record BrokerStorage(Mode mode, int buckets) {

    private static final Logger LOG = LoggerFactory.getLogger(BrokerStorage.class);

    /** Memory persistence in 4 buckets: what {@code turnout server} embeds unless told otherwise. */
    public static final BrokerStorage DEFAULT = new BrokerStorage(Mode.MEMORY, 4);
    /** File persistence in 4 buckets ({@code --broker-persistence file}). */
    public static final BrokerStorage ON_DISK = new BrokerStorage(Mode.FILE, 4);
    public static final int MAX_BUCKETS = 64;
    /** Size of one Xodus log file, in KiB (Xodus' default is 8 MiB). */
    static final int LOG_FILE_KIB = 1024;
    /**
     * Most heap Xodus' log cache may hold, whatever the heap: the broker's working set (two retained
     * messages a device, a queue) is far smaller, and the orchestrator shares the heap.
     */
    static final long CACHE_MAX_BYTES = 64L << 20;
    static final int CACHE_HEAP_PERCENT = 25;
    /** The file beside conf/ and data/ that names the layout data/ was written with. */
    static final String LAYOUT_FILE = "store.properties";

    public enum Mode {
        FILE, MEMORY;

        /** The value of HiveMQ's {@code <persistence><mode>}. */
        String hivemqMode() {
            return this == FILE ? "file" : "in-memory";
        }
    }

    public BrokerStorage {
        if (mode == null) {
            throw new IllegalArgumentException("broker persistence must be file or memory");
        }
        if (buckets < 1 || buckets > MAX_BUCKETS) {
            throw new IllegalArgumentException("broker buckets must be between 1 and " + MAX_BUCKETS + ", not " + buckets);
        }
    }

    /** What {@link #LAYOUT_FILE} says for this storage. */
    String layout() {
        return "store=xodus\nbuckets=" + buckets + "\n";
    }

    /** Sets HiveMQ's JVM-wide persistence settings; call before the broker starts. */
    void applyToHiveMq() {
        InternalConfigurations.PERSISTENCE_BUCKET_COUNT.set(buckets);
        InternalConfigurations.PAYLOAD_PERSISTENCE_BUCKET_COUNT.set(buckets);
        InternalConfigurations.RETAINED_MESSAGE_PERSISTENCE_TYPE.set(PersistenceType.FILE);
        InternalConfigurations.PAYLOAD_PERSISTENCE_TYPE.set(PersistenceType.FILE);
        // Xodus reads its defaults from system properties when HiveMQ creates each environment
        System.setProperty("exodus.log.fileSize", Integer.toString(LOG_FILE_KIB));
        System.setProperty("exodus.memoryUsage", Long.toString(cacheBytes(Runtime.getRuntime().maxMemory())));
    }

    /** Xodus' log cache for a heap of {@code maxHeap} bytes: a quarter of it, at most {@link #CACHE_MAX_BYTES}. */
    static long cacheBytes(long maxHeap) {
        return Math.min(maxHeap * CACHE_HEAP_PERCENT / 100, CACHE_MAX_BYTES);
    }

    /**
     * Makes {@code data} fit this storage before the broker opens it: a store written with another
     * layout (HiveMQ's RocksDB defaults of an older Turnout, another bucket count) cannot be read with
     * this one, so it is removed with a warning. Nothing is lost that the fleet cannot give again: the
     * orchestrator republishes every desired state at start and devices report on reconnect.
     *
     * @param brokerDir the broker's folder, holding {@code data/} and {@link #LAYOUT_FILE}
     */
    void prepare(Path brokerDir) throws IOException {
        Path data = brokerDir.resolve("data");
        if (mode == Mode.MEMORY) {
            if (hasContent(data)) {
                LOG.info("the embedded broker keeps its messages and sessions in memory; the store that file persistence left in {}"
                        + " is not read (delete it, or start with --broker-persistence file to use it again)", data);
            }
            return;
        }
        Path layoutFile = brokerDir.resolve(LAYOUT_FILE);
        String found = Files.exists(layoutFile) ? Files.readString(layoutFile, StandardCharsets.UTF_8) : null;
        if (!layout().equals(found) && hasContent(data)) {
            LOG.warn("the embedded broker's store in {} was written {}; this broker keeps it as {}: starting with an empty "
                            + "store (the orchestrator republishes every desired state, devices report again when they reconnect)",
                    data, found == null ? "by an older version (HiveMQ's RocksDB defaults)" : "as " + describe(found),
                    describe(layout()));
            deleteContents(data);
        }
        Files.createDirectories(data);
        Files.writeString(layoutFile, layout(), StandardCharsets.UTF_8);
    }

    private static String describe(String layout) {
        return layout.strip().replace('\n', ' ').toLowerCase(Locale.ROOT);
    }

    private static boolean hasContent(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.findAny().isPresent();
        }
    }

    private static void deleteContents(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path path : walk.sorted(Comparator.reverseOrder()).toList()) {
                if (!path.equals(dir)) {
                    Files.delete(path);
                }
            }
        }
    }
}
