package dev.turnout.edge.app;

import dev.turnout.edge.cache.ArtifactCache;
import dev.turnout.edge.cache.BundleImport;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.PublicKey;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ScopeType;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code turnout-edge --config FILE [--data DIR]}: runs the edge daemon until SIGTERM.
 * {@code turnout-edge cache import FILE --config FILE [--data DIR]}: imports an offline bundle into the cache.
 */
@Command(name = "turnout-edge", mixinStandardHelpOptions = true, versionProvider = EdgeMain.Version.class,
        description = "Turnout edge daemon: converges this device to its signed desired state.",
        subcommands = EdgeMain.Cache.class)
public final class EdgeMain implements Callable<Integer> {

    @Option(names = "--config", paramLabel = "FILE", scope = ScopeType.INHERIT, description = "device configuration (YAML)")
    Path config;

    @Option(names = "--data", paramLabel = "DIR", scope = ScopeType.INHERIT, description = "state and cache directory (overrides dataDir)")
    Path data;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Set once the daemon runs: counted down when it has stopped. */
    private CountDownLatch stopped;

    /** Runs the command line; returns the exit code (for the daemon: once it has stopped). */
    public static int run(String... args) {
        EdgeMain main = new EdgeMain();
        int code = new CommandLine(main).execute(args);
        // the daemon runs on its own threads: waiting here rather than inside picocli leaves its model of the
        // command line to the garbage collector for the daemon's life
        if (main.stopped != null) {
            try {
                main.stopped.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return code;
    }

    @Override
    public Integer call() {
        if (config == null) {
            System.err.println("turnout-edge: --config FILE is required (turnout-edge --help)");
            return 2;
        }
        EdgeConfig loaded;
        try {
            loaded = EdgeConfig.load(config);
        } catch (Exception e) {
            System.err.println("turnout-edge: " + e.getMessage());
            return 2;
        }
        if (data == null && loaded.dataDir() == null) {
            System.err.println("turnout-edge: no data directory: set dataDir in " + config + " or pass --data DIR");
            return 2;
        }
        EdgeDaemon daemon;
        try {
            daemon = EdgeDaemon.start(loaded, data);
        } catch (Exception e) {
            System.err.println("turnout-edge: cannot start: " + e.getMessage());
            return 1;
        }
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            daemon.close();
            stop.countDown();
        }, "edge-shutdown"));
        stopped = stop;
        return 0;
    }

    /** The built-in version; under an agent release the launcher started, that release's version (as presence says). */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String release = System.getenv(dev.turnout.edge.agent.AgentHome.VERSION_ENV);
            if (release != null && dev.turnout.proto.rules.SemVer.isWellFormed(release.strip())) {
                return new String[] {release.strip() + " (agent release; built-in " + EdgeDaemon.AGENT_VERSION + ")"};
            }
            return new String[] {EdgeDaemon.AGENT_VERSION};
        }
    }

    /** {@code turnout-edge cache ...}: the offline artifact cache. */
    @Command(name = "cache", mixinStandardHelpOptions = true, description = "Work with the offline artifact cache.",
            subcommands = Import.class)
    static final class Cache implements Callable<Integer> {

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            spec.commandLine().usage(System.err);
            return 2;
        }
    }

    /**
     * {@code turnout-edge cache import FILE}: verifies an offline bundle (signed manifest, each archive's size and
     * digest) and puts the archive for this device's platform into the cache. Exit 0: imported; 1: refused;
     * 2: usage or configuration error.
     */
    @Command(name = "import", mixinStandardHelpOptions = true,
            description = "Import an offline bundle (from `turnout bundle export`) into the cache; activation later needs no network.")
    static final class Import implements Callable<Integer> {

        @CommandLine.ParentCommand
        Cache cache;

        @Parameters(paramLabel = "FILE", description = "the bundle (.tar)")
        Path bundle;

        @Override
        public Integer call() {
            EdgeMain main = (EdgeMain) cache.spec.parent().userObject();
            if (main.config == null) {
                System.err.println("turnout-edge: --config FILE is required");
                return 2;
            }
            EdgeConfig loaded;
            try {
                loaded = EdgeConfig.load(main.config);
            } catch (Exception e) {
                System.err.println("turnout-edge: " + e.getMessage());
                return 2;
            }
            Path dataDir = main.data != null ? main.data : loaded.dataDir();
            if (dataDir == null) {
                System.err.println("turnout-edge: no data directory: set dataDir in " + main.config + " or pass --data DIR");
                return 2;
            }
            // keys installed by a signed rotation replace the configured ones, as for desired states
            List<byte[]> rotated = new FileStateStore(dataDir.resolve("state")).loadRotatedKeys();
            EnvelopeVerifier keys = new EnvelopeVerifier(rotated.isEmpty() ? loaded.publicKeys() : rotated.stream().map(PublicKey::of).toList());
            String platform = EdgeDaemon.platformOf(loaded);
            try {
                BundleImport.Imported imported = new BundleImport(keys, platform, new ArtifactCache(dataDir.resolve("cache"),
                        loaded.orchestratorUrl())).importFile(bundle);
                System.out.printf("imported %s %s for %s (%s, %d bytes)%n", imported.app(), imported.version(), platform,
                        imported.artifact().getArchiveDigest(), imported.artifact().getSize());
                return 0;
            } catch (UpdateFailure e) {
                System.err.println("turnout-edge: bundle refused (" + e.reason() + "): " + e.getMessage());
                return 1;
            }
        }
    }
}
