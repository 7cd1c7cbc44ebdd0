package dev.turnout.testsupport;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Builds small app images without a registry on one engine: a busybox-static root filesystem with an httpd
 * document root, imported with {@code docker import} and exported with {@code docker save}, the archive form a
 * release ships (a containerd-store engine saves an OCI layout with a manifest.json, the classic store the older
 * Docker archive). Needs {@link Requirements#busybox()}.
 */
public final class TestImages {

    private static final List<String> APPLETS = List.of("sh", "httpd", "wget", "cat", "ls", "sleep", "echo", "true", "false");

    /**
     * The release spec (YAML) of the images {@link #build} makes: httpd on port 8080 serving {@code /www}, no
     * network, healthy when {@code /health} answers, a one-second soak.
     */
    public static final String WEB_SPEC = """
            container:
              command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
              network: none
            health:
              exec: ["/bin/wget", "-q", "-O", "-", "http://127.0.0.1:8080/health"]
              interval: 500ms
              retries: 3
              soak: 1s
            """;

    private final TestEngines.Engine engine;

    public TestImages(TestEngines.Engine engine) {
        this.engine = engine;
    }

    /**
     * An image whose document root {@code /www} holds {@code version} and {@code index.html}, and when {@code healthy}
     * also {@code health}, which answers the version (so {@code wget http://127.0.0.1:PORT/health} succeeds). Its root
     * filesystem and archive are {@code rootfs-VERSION} and {@code image-VERSION.tar} in {@code workDir}.
     *
     * @return the {@code docker save} archive
     */
    public Path build(String imageRef, String version, boolean healthy, Path workDir) throws IOException {
        return build(imageRef, version, healthy, workDir, 0);
    }

    /**
     * As {@link #build(String, String, boolean, Path)}, with {@code payloadBytes} of random (incompressible) bytes in
     * {@code /www/payload.bin}: an archive big enough for a download to take its time.
     */
    public Path build(String imageRef, String version, boolean healthy, Path workDir, int payloadBytes) throws IOException {
        Path root = Files.createDirectories(workDir.resolve("rootfs-" + version));
        Path bin = Files.createDirectories(root.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String applet : APPLETS) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        for (String dir : List.of("tmp", "etc", "proc", "sys", "dev", "www")) {
            Files.createDirectories(root.resolve(dir));
        }
        Files.writeString(root.resolve("www/index.html"), "version " + version + "\n", StandardCharsets.UTF_8);
        Files.writeString(root.resolve("www/version"), version + "\n", StandardCharsets.UTF_8);
        if (payloadBytes > 0) {
            byte[] payload = new byte[payloadBytes];
            new java.util.Random(payloadBytes).nextBytes(payload);
            Files.write(root.resolve("www/payload.bin"), payload);
        }
        if (healthy) {
            Files.writeString(root.resolve("www/health"), version + "\n", StandardCharsets.UTF_8);
        }
        Path rootTar = workDir.resolve("rootfs-" + version + ".tar");
        DockerCli.output("tar", "-C", root.toString(), "-cf", rootTar.toString(), ".");
        DockerCli.docker(engine, "import", rootTar.toString(), imageRef);
        Path archive = workDir.resolve("image-" + version + ".tar");
        DockerCli.docker(engine, "save", "-o", archive.toString(), imageRef);
        return archive;
    }

    /** The engine's id of an image ({@code sha256:...}). */
    public String id(String imageRef) {
        return DockerCli.docker(engine, "image", "inspect", "--format", "{{.Id}}", imageRef);
    }

    /** Removes an image if it is there, so that the daemon must load it from its archive. */
    public void remove(String imageRef) {
        DockerCli.run(engine, "rmi", "-f", imageRef);
    }

    /** The platform string of the engine, e.g. {@code linux/amd64}. */
    public String enginePlatform() {
        String arch = DockerCli.docker(engine, "info", "--format", "{{.Architecture}}");
        return switch (arch) {
            case "x86_64", "amd64" -> "linux/amd64";
            case "aarch64", "arm64" -> "linux/arm64";
            case "armv7l" -> "linux/arm/v7";
            default -> "linux/" + arch;
        };
    }
}
