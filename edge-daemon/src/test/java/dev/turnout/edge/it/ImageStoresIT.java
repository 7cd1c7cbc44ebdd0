package dev.turnout.edge.it;

import dev.turnout.edge.docker.DockerContainerRuntime;
import dev.turnout.edge.domain.EngineImage;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.proto.image.ArchiveEntries;
import dev.turnout.proto.image.ImageArchive;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.TestEngines.Engine;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * The archive a release ships, on every engine under test (classic and containerd image stores): made from a
 * legacy {@code docker save} (Docker 20.10) and from an OCI-layout {@code docker save} (Docker 26+ on the containerd
 * store), it loads to the id the release signs for that store, with the signed layers; an altered archive is refused
 * before the engine sees it.
 */
class ImageStoresIT {

    private static final String RUN = UUID.randomUUID().toString().substring(0, 8);
    private static final List<Engine> touched = new ArrayList<>();

    @TempDir
    static Path work;

    /** Each engine with each kind of source archive. */
    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (Engine engine : TestEngines.all()) {
            cases.add(Arguments.of(engine, "legacy docker save (Docker 20.10)"));
            if (TestEngines.all().stream().anyMatch(Engine::containerdStore)) {
                cases.add(Arguments.of(engine, "OCI docker save (containerd store)"));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("cases")
    void theShippedArchiveLoadsToTheSignedIdOnEitherStore(Engine engine, String source) throws Exception {
        Requirements.require(DockerCli.answers(engine), "the Docker engine '" + engine + "' at " + engine.dockerHost());
        Path saved = source.startsWith("legacy") ? save(TestEngines.DEFAULT, "legacy") : save(firstContainerdEngine(), "oci");
        Shipped shipped = ship(saved, engine + "-" + source.split(" ")[0]);
        String ref = shipped.image().ref();
        try (DockerContainerRuntime runtime = new DockerContainerRuntime(engine.dockerHost())) {
            touched.add(engine);
            DockerCli.run(engine, "rmi", "-f", ref);
            runtime.checkArchive(shipped.archive(), shipped.signed());
            runtime.loadImage(shipped.archive());

            String expectedId = engine.containerdStore() ? shipped.signed().getManifestDigest() : shipped.signed().getImageId();
            String otherId = engine.containerdStore() ? shipped.signed().getImageId() : shipped.signed().getManifestDigest();
            Optional<EngineImage> loaded = runtime.inspectImage(expectedId);
            assertThat(loaded).as("on %s the image is known by %s", engine, engine.containerdStore() ? "its manifest digest" : "its config digest")
                    .hasValueSatisfying(image -> {
                        assertThat(image.id()).isEqualTo(expectedId);
                        assertThat(image.layers()).isEqualTo(shipped.signed().getDiffIdsList());
                    });
            assertThat(runtime.inspectImage(otherId)).as("and not by the other store's id").isEmpty();
            assertThat(DockerCli.docker(engine, "image", "inspect", "--format", "{{.Id}}", ref)).isEqualTo(expectedId);
            DockerCli.docker(engine, "run", "--rm", "--network", "none", expectedId, "/bin/true");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("engines")
    void anAlteredArchiveIsRefusedBeforeTheEngineSeesIt(Engine engine) throws Exception {
        Requirements.require(DockerCli.answers(engine), "the Docker engine '" + engine + "' at " + engine.dockerHost());
        Shipped shipped = ship(save(TestEngines.DEFAULT, "legacy"), "altered-" + engine);
        Path altered = work.resolve("altered-" + engine + ".tar");
        String layer = "blobs/sha256/" + shipped.signed().getDiffIds(0).substring("sha256:".length());
        rewrite(shipped.archive(), altered, layer);
        try (DockerContainerRuntime runtime = new DockerContainerRuntime(engine.dockerHost())) {
            UpdateFailure refused = catchThrowableOfType(UpdateFailure.class, () -> runtime.checkArchive(altered, shipped.signed()));
            assertThat(refused).isNotNull();
            assertThat(refused.reason()).isEqualTo(Reason.LAYER_MISMATCH);
        }
    }

    static Stream<Engine> engines() {
        return TestEngines.all().stream();
    }

    private record Shipped(Path archive, ImageArchive.Image image, ImageArtifact signed) {
    }

    /** What the orchestrator does at {@code release create}: the single-platform layout, and what the release signs. */
    private static Shipped ship(Path saved, String name) throws Exception {
        ArchiveEntries entries = ArchiveEntries.read(saved);
        ImageArchive.Image image = ImageArchive.images(entries).get(0);
        Path archive = work.resolve("shipped-" + name.replaceAll("[^a-zA-Z0-9.-]", "_") + ".tar");
        try (OutputStream out = Files.newOutputStream(archive)) {
            ImageArchive.writeSinglePlatform(saved, entries, image, out);
        }
        ImageArtifact signed = ImageArtifact.newBuilder().setPlatform(image.platform()).setImageRef(image.ref() == null ? "" : image.ref())
                .setImageId(image.configDigest()).setManifestDigest(ImageArchive.manifestDigest(entries, image))
                .addAllDiffIds(image.diffIds()).build();
        return new Shipped(archive, image, signed);
    }

    private static final Map<String, Path> saves = new LinkedHashMap<>();

    /** A busybox image imported on {@code engine} and saved from it ({@code docker save} as that engine writes it). */
    private static synchronized Path save(Engine engine, String kind) throws Exception {
        Path known = saves.get(kind);
        if (known != null) {
            return known;
        }
        Requirements.require(Files.isExecutable(Path.of("/bin/busybox")), "busybox-static (/bin/busybox)");
        Requirements.require(DockerCli.answers(engine), "the Docker engine '" + engine + "' at " + engine.dockerHost());
        Path tar = work.resolve("root.tar");
        if (!Files.exists(tar)) {
            Path root = Files.createDirectories(work.resolve("root"));
            Path bin = Files.createDirectories(root.resolve("bin"));
            Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
            Files.createSymbolicLink(bin.resolve("true"), Path.of("busybox"));
            Files.createDirectories(root.resolve("tmp"));
            DockerCli.output("tar", "-C", root.toString(), "-cf", tar.toString(), ".");
        }
        String ref = "turnout-edge-it/stores-" + RUN + ":" + kind;
        touched.add(engine);
        DockerCli.docker(engine, "import", tar.toString(), ref);
        Path saved = work.resolve("saved-" + kind + ".tar");
        DockerCli.docker(engine, "save", "-o", saved.toString(), ref);
        DockerCli.run(engine, "rmi", "-f", ref);
        saves.put(kind, saved);
        return saved;
    }

    private static Engine firstContainerdEngine() {
        return TestEngines.all().stream().filter(Engine::containerdStore).findFirst().orElseThrow();
    }

    /** Copies the tar, flipping the last byte of {@code entry}. */
    private static void rewrite(Path from, Path to, String entry) throws Exception {
        try (InputStream in = Files.newInputStream(from); TarArchiveInputStream tar = new TarArchiveInputStream(in);
             OutputStream out = Files.newOutputStream(to); TarArchiveOutputStream copy = new TarArchiveOutputStream(out)) {
            copy.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            TarArchiveEntry e;
            while ((e = tar.getNextEntry()) != null) {
                byte[] data = tar.readAllBytes();
                if (e.getName().equals(entry)) {
                    data[data.length - 1] ^= 1;
                }
                TarArchiveEntry c = new TarArchiveEntry(e.getName());
                c.setSize(data.length);
                c.setMode(e.getMode());
                copy.putArchiveEntry(c);
                copy.write(data);
                copy.closeArchiveEntry();
            }
            copy.finish();
        }
    }

    @AfterAll
    static void cleanUp() {
        for (Engine engine : touched.stream().distinct().toList()) {
            for (String kind : List.of("legacy", "oci")) {
                DockerCli.run(engine, "rmi", "-f", "turnout-edge-it/stores-" + RUN + ":" + kind);
            }
        }
    }
}
