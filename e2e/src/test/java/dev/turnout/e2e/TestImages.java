package dev.turnout.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Builds small app images without a registry: a busybox-static root filesystem with an httpd
 * document root, imported with {@code docker import} and exported with {@code docker save}, the
 * archive form a release ships, on one engine: a containerd-store engine saves an OCI layout (with
 * a manifest.json), the classic store the older Docker archive.
 */
final class TestImages {

    private static final List<String> APPLETS = List.of("sh", "httpd", "wget", "cat", "ls", "sleep", "echo", "true", "false");

    private final String dockerHost;

    /** @param dockerHost the engine's address, e.g. {@code unix:///var/run/docker.sock} */
    TestImages(String dockerHost) {
        this.dockerHost = dockerHost;
    }

    /**
     * @param healthy whether {@code /www/health} exists, so {@code wget http://127.0.0.1:PORT/health} succeeds
     * @return the {@code docker save} archive
     */
    Path build(String imageRef, String versionText, boolean healthy, Path workDir) throws IOException {
        Path root = Files.createDirectories(workDir.resolve("rootfs-" + imageRef.replaceAll("[^a-zA-Z0-9.-]", "_")));
        Path bin = Files.createDirectories(root.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String applet : APPLETS) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        for (String dir : List.of("tmp", "etc", "proc", "sys", "dev", "www")) {
            Files.createDirectories(root.resolve(dir));
        }
        Files.writeString(root.resolve("www/index.html"), "version " + versionText + "\n", StandardCharsets.UTF_8);
        Files.writeString(root.resolve("www/version"), versionText + "\n", StandardCharsets.UTF_8);
        if (healthy) {
            Files.writeString(root.resolve("www/health"), "ok\n", StandardCharsets.UTF_8);
        }
        Path rootTar = workDir.resolve(root.getFileName() + ".tar");
        Shell.run("tar", "-C", root.toString(), "-cf", rootTar.toString(), ".");
        Shell.docker(dockerHost, "import", rootTar.toString(), imageRef);
        Path archive = workDir.resolve(root.getFileName() + "-image.tar");
        Shell.docker(dockerHost, "save", "-o", archive.toString(), imageRef);
        return archive;
    }

    void remove(String imageRef) {
        try {
            Shell.docker(dockerHost, "rmi", "-f", imageRef);
        } catch (IllegalStateException ignored) {
            // already gone
        }
    }

    /** The platform string of the engine, e.g. {@code linux/amd64}. */
    String enginePlatform() {
        String arch = Shell.docker(dockerHost, "info", "--format", "{{.Architecture}}");
        return switch (arch) {
            case "x86_64", "amd64" -> "linux/amd64";
            case "aarch64", "arm64" -> "linux/arm64";
            case "armv7l" -> "linux/arm/v7";
            default -> "linux/" + arch;
        };
    }
}
