package dev.turnout.edge.app;

import dev.turnout.edge.cache.TestBundles;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Release;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The command line as an operator types it: {@code turnout-edge cache import FILE --config FILE --data DIR}. */
class EdgeMainTest {

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final byte[] archive = new byte[50_000];
    private String out;
    private String err;

    private Path config(SigningKey trusted) throws IOException {
        Path file = dir.resolve("edge.yaml");
        Files.writeString(file, """
                deviceId: pi-7
                brokerUrl: tcp://127.0.0.1:1883
                platform: linux/arm/v7
                trustedKeys:
                  - keyId: %s
                    publicKey: %s
                """.formatted(trusted.keyId(), trusted.publicKey().toBase64()));
        return file;
    }

    private Path bundle() throws IOException {
        new Random(7).nextBytes(archive);
        String digest = TestBundles.digest(archive);
        Release release = Release.newBuilder().setApp("controller").setVersion("1.4.2").addImages(ImageArtifact.newBuilder()
                .setPlatform("linux/arm/v7").setArchiveDigest(digest).setSize(archive.length).setImageId("sha256:" + "b".repeat(64))).build();
        return TestBundles.write(dir.resolve("usb/controller-1.4.2.tar"), TestBundles.manifest(key, release, 1),
                Map.of(digest, archive));
    }

    private int run(String... args) {
        PrintStream originalOut = System.out;
        PrintStream originalErr = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
        try {
            return EdgeMain.run(args);
        } finally {
            System.setOut(originalOut);
            System.setErr(originalErr);
            out = o.toString(StandardCharsets.UTF_8);
            err = e.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void cacheImportPutsTheVerifiedArchiveIntoTheDataDirectory() throws IOException {
        Files.createDirectories(dir.resolve("usb"));
        Path bundle = bundle();
        Path data = dir.resolve("data");
        assertThat(run("cache", "import", bundle.toString(), "--config", config(key).toString(), "--data", data.toString()))
                .as(err).isZero();
        assertThat(out).contains("imported controller 1.4.2 for linux/arm/v7");
        Path cached = data.resolve("cache").resolve(TestBundles.digest(archive).replace(':', '-') + ".tar");
        assertThat(Files.readAllBytes(cached)).isEqualTo(archive);
    }

    @Test
    void optionsMayAlsoComeBeforeTheSubcommand() throws IOException {
        Files.createDirectories(dir.resolve("usb"));
        Path bundle = bundle();
        Path data = dir.resolve("data");
        assertThat(run("--config", config(key).toString(), "--data", data.toString(), "cache", "import", bundle.toString()))
                .as(err).isZero();
        assertThat(data.resolve("cache").resolve(TestBundles.digest(archive).replace(':', '-') + ".tar")).exists();
    }

    @Test
    void aBundleSignedByAnotherKeyIsRefusedWithExitCodeOne() throws IOException {
        Files.createDirectories(dir.resolve("usb"));
        Path bundle = bundle();
        Path data = dir.resolve("data");
        assertThat(run("cache", "import", bundle.toString(), "--config", config(SigningKey.generate()).toString(), "--data", data.toString()))
                .isEqualTo(1);
        assertThat(err).contains("bundle refused (UNKNOWN_KEY)");
        assertThat(data.resolve("cache")).isEmptyDirectory();
    }

    @Test
    void theDaemonStillNeedsAConfig() {
        assertThat(run()).isEqualTo(2);
        assertThat(err).contains("--config FILE is required");
    }
}
