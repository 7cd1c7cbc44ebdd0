package dev.turnout.testsupport;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A Docker engine of the test's own, which the test may stop, start and kill without touching the machine's shared
 * one: the host's {@code dockerd} with its own API socket, data root, exec root and pid file (it starts its own
 * containerd under the exec root). {@link #restart()} is a clean engine restart (as {@code systemctl restart docker});
 * {@link #powerOff()} is what a power cut does to the engine: every process of it (dockerd, containerd, the shims, the
 * containers' processes) killed with SIGKILL, its mounts gone and its runtime directory (on a device, under the
 * tmpfs {@code /run}) emptied; {@link #start()} then boots it again on the same data root. Needs root.
 */
public final class PrivateEngine implements AutoCloseable {

    private final Path dir;
    private final Path dataRoot;
    private final Path execRoot;
    private final Path pidFile;
    private final Path socket;
    private final Path log;
    private final TestEngines.Engine engine;
    private Process process;

    private PrivateEngine(Path dir, String name) {
        this.dir = dir;
        this.dataRoot = dir.resolve("data");
        this.execRoot = dir.resolve("x");
        this.pidFile = dir.resolve("dockerd.pid");
        this.socket = dir.resolve("docker.sock");
        this.log = dir.resolve("dockerd.log");
        this.engine = new TestEngines.Engine(name, "unix://" + socket);
    }

    /** Starts an engine keeping everything in {@code dir} (short: the containerd socket path must fit 108 bytes). */
    public static PrivateEngine start(Path dir, String name) throws IOException {
        Requirements.require(Files.isExecutable(Path.of("/usr/sbin/dockerd")) || Files.isExecutable(Path.of("/usr/bin/dockerd")),
                "dockerd (package docker.io)");
        Files.createDirectories(dir);
        PrivateEngine engine = new PrivateEngine(dir, name);
        engine.start();
        return engine;
    }

    public TestEngines.Engine engine() {
        return engine;
    }

    public Path log() {
        return log;
    }

    /** Starts dockerd and waits until it answers (at most 60 s). */
    public void start() throws IOException {
        // a container's processes get 2 s to stop when the engine shuts down (15 s by default): the fault is the same
        process = new ProcessBuilder("setsid", "dockerd", "-H", engine.dockerHost(), "--data-root", dataRoot.toString(),
                "--exec-root", execRoot.toString(), "--pidfile", pidFile.toString(), "--iptables=false", "--ip6tables=false",
                "--bridge=none", "--shutdown-timeout", "2")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!DockerCli.answers(engine)) {
            if (!process.isAlive() || System.nanoTime() > deadline) {
                throw new IllegalStateException("the test's own dockerd did not answer on " + engine.dockerHost() + "; its log:\n" + tail());
            }
            sleep(200);
        }
    }

    /** A clean restart: SIGTERM (dockerd stops its containers and containerd), then {@link #start()}. */
    public void restart() throws IOException {
        stop();
        start();
    }

    /** SIGTERM to dockerd; waits for it (and the containerd it started) to end. */
    public void stop() {
        if (process == null || !process.isAlive()) {
            return;
        }
        List<ProcessHandle> descendants = process.toHandle().descendants().toList();
        process.destroy();
        try {
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the test's own dockerd did not stop within 60 s; its log:\n" + tail());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        descendants.forEach(p -> p.onExit().orTimeout(30, TimeUnit.SECONDS).join());
    }

    /**
     * A power cut, as the engine sees it: dockerd, its containerd, every shim and every container process of this
     * engine get SIGKILL at once; then what a reboot clears goes too: the mounts under the data root and exec root
     * (overlay file systems, the shims' state) and the exec root itself. The data root stays, as a disk would.
     */
    public void powerOff() throws IOException {
        List<Long> pids = new ArrayList<>();
        for (String id : DockerCli.docker(engine, "ps", "-q").split("\\s+")) {
            if (!id.isBlank()) {
                pids.add(Long.parseLong(DockerCli.docker(engine, "inspect", "--format", "{{.State.Pid}}", id).trim()));
            }
        }
        if (process != null) {
            pids.add(process.pid());
        }
        // containerd and the shims name the exec root on their command line
        try (Stream<ProcessHandle> all = ProcessHandle.allProcesses()) {
            all.filter(p -> p.info().arguments().map(args -> String.join(" ", args).contains(execRoot.toString())).orElse(false))
                    .forEach(p -> pids.add(p.pid()));
        }
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(p -> kill9(pid));
        }
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(p -> p.onExit().orTimeout(30, TimeUnit.SECONDS).join());
        }
        unmountAndClear();
    }

    private void unmountAndClear() throws IOException {
        List<String> mounts = Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8).stream()
                .map(line -> line.split(" ")[4]).filter(m -> m.startsWith(dir.toString()))
                .sorted(Comparator.comparingInt(String::length).reversed()).toList();
        for (String mount : mounts) {
            DockerCli.exitCode("umount", "-l", mount);
        }
        if (Files.exists(execRoot)) {
            DockerCli.output("rm", "-rf", execRoot.toString());
        }
    }

    private static void kill9(long pid) {
        DockerCli.exitCode("kill", "-KILL", Long.toString(pid));
    }

    private String tail() {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Removes every container, stops the engine, unmounts what it left and deletes its directory. */
    @Override
    public void close() {
        try {
            if (process != null && process.isAlive()) {
                String ids = DockerCli.docker(engine, "ps", "-aq");
                for (String id : ids.split("\\s+")) {
                    if (!id.isBlank()) {
                        DockerCli.run(engine, "rm", "-f", id);
                    }
                }
            }
        } catch (RuntimeException ignored) {
            // stopping it is what matters
        }
        stop();
        try {
            unmountAndClear();
            DockerCli.output("rm", "-rf", dir.toString());
        } catch (IOException | RuntimeException e) {
            System.err.println("could not remove " + dir + ": " + e.getMessage());
        }
    }
}
