package dev.turnout.orchestrator.cli;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The demo's real devices: edge daemons ({@code bin/turnout-edge}) on this machine's Docker engine,
 * started as child processes, and the demo images ({@code bin/demo-images}). Removes the containers and
 * images it caused when it stops.
 */
final class DemoEdgeDevices implements AutoCloseable {

    private final Path root;
    private final List<Process> daemons = new ArrayList<>();
    private final List<String> deviceIds = new ArrayList<>();
    private final List<String> imageIds = new ArrayList<>();

    private DemoEdgeDevices(Path root) {
        this.root = root;
    }

    /** The checkout this CLI runs from, when it has the launchers (bin/turnout-edge, bin/demo-images). */
    static Optional<DemoEdgeDevices> fromCheckout() {
        try {
            Path code = Path.of(TurnoutCli.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            // orchestrator/target/turnout.jar or orchestrator/target/classes
            Path root = code.getParent().getParent().getParent();
            if (Files.isExecutable(root.resolve("bin/turnout-edge")) && Files.isExecutable(root.resolve("bin/demo-images"))) {
                return Optional.of(new DemoEdgeDevices(root));
            }
        } catch (URISyntaxException | RuntimeException e) {
            // not run from a checkout
        }
        return Optional.empty();
    }

    /** True when a Docker engine answers within a few seconds. */
    static boolean dockerAnswers() {
        try {
            Process p = new ProcessBuilder("docker", "info", "--format", "{{.ServerVersion}}").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return false;
            }
            return p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Builds the three demo images into {@code dir} and returns the engine's platform (e.g. linux/amd64). */
    String buildImages(Path dir, Path log) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(root.resolve("bin/demo-images").toString(), dir.toString())
                .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0 || out.isEmpty()) {
            p.destroyForcibly();
            throw new IOException("bin/demo-images failed; see " + log);
        }
        String[] lines = out.split("\n");
        return lines[lines.length - 1].trim();
    }

    /** Remembers an image id to remove from the engine when the demo stops. */
    void loadsImage(String imageId) {
        imageIds.add(imageId);
    }

    /** Starts an edge daemon for an enrolled device; its output goes to {@code dataDir/daemon.log}. */
    void start(String deviceId, Path config, Path dataDir) throws IOException {
        Files.createDirectories(dataDir);
        Process p = new ProcessBuilder(root.resolve("bin/turnout-edge").toString(), "--config", config.toString(), "--data",
                dataDir.toString()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dataDir.resolve("daemon.log").toFile())).start();
        daemons.add(p);
        deviceIds.add(deviceId);
    }

    /** Stops the daemons (a clean stop says offline), then removes their containers and the demo images. */
    @Override
    public void close() {
        for (Process p : daemons) {
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
        }
        for (Process p : daemons) {
            try {
                if (!p.waitFor(20, TimeUnit.SECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (String id : deviceIds) {
            List<String> containers = docker("ps", "-aq", "--filter", "label=dev.turnout.device=" + id);
            if (!containers.isEmpty()) {
                List<String> rm = new ArrayList<>(List.of("rm", "-f"));
                rm.addAll(containers);
                docker(rm.toArray(String[]::new));
            }
        }
        for (String image : imageIds) {
            docker("rmi", image); // not forced: an image someone else uses stays
        }
        daemons.clear();
        deviceIds.clear();
        imageIds.clear();
    }

    private static List<String> docker(String... args) {
        List<String> command = new ArrayList<>();
        command.add("docker");
        command.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(30, TimeUnit.SECONDS);
            return out.lines().map(String::trim).filter(l -> !l.isEmpty()).toList();
        } catch (IOException e) {
            return List.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return List.of();
        }
    }
}
