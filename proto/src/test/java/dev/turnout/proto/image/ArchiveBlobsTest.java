package dev.turnout.proto.image;

import dev.turnout.testsupport.TestImageArchives;
import dev.turnout.testsupport.TestImageArchives.Built;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ArchiveBlobsTest {

    @TempDir
    Path dir;

    private final Built amd64 = TestImageArchives.image("linux/amd64", "amd64 build", false);
    private final Built arm64 = TestImageArchives.image("linux/arm64", "arm64 build", true);

    @Test
    void anArchiveSplitIntoBlobsIsJoinedBackToTheSameBytes() throws Exception {
        for (Map<String, byte[]> upload : List.of(TestImageArchives.legacy("web:1.0.0", amd64),
                TestImageArchives.ociLayout("trains/controller:2.0.0", arm64))) {
            Path normalized = normalize(upload);
            String digest = TestImageArchives.sha256(Files.readAllBytes(normalized));
            Path blobs = dir.resolve("blobs");

            List<ArchiveBlobs.Part> parts = ArchiveBlobs.split(normalized, digest, blobs);

            Built image = upload.containsKey("index.json") ? arm64 : amd64;
            assertThat(parts).extracting(ArchiveBlobs.Part::path).containsSubsequence(
                    TestImageArchives.blob(TestImageArchives.sha256(image.layers().get(0))), TestImageArchives.blob(image.configDigest()),
                    "index.json", "manifest.json", "oci-layout");
            for (ArchiveBlobs.Part part : parts) {
                byte[] stored = Files.readAllBytes(blobs.resolve(part.digest().substring(7)));
                assertThat(TestImageArchives.sha256(stored)).isEqualTo(part.digest());
                assertThat((long) stored.length).isEqualTo(part.size());
            }
            ByteArrayOutputStream joined = new ByteArrayOutputStream();
            ArchiveBlobs.join(parts, p -> Files.newInputStream(blobs.resolve(p.digest().substring(7))), joined);
            assertThat(joined.toByteArray()).isEqualTo(Files.readAllBytes(normalized));
        }
    }

    @Test
    void aDamagedOrShortBlobFailsTheJoin() throws Exception {
        Path normalized = normalize(TestImageArchives.legacy("web:1.0.0", amd64));
        Path blobs = dir.resolve("blobs");
        List<ArchiveBlobs.Part> parts = ArchiveBlobs.split(normalized, TestImageArchives.sha256(Files.readAllBytes(normalized)), blobs);
        ArchiveBlobs.Part layer = parts.get(0);
        Files.write(blobs.resolve(layer.digest().substring(7)), new byte[10]);

        assertThatThrownBy(() -> ArchiveBlobs.join(parts, p -> Files.newInputStream(blobs.resolve(p.digest().substring(7))),
                OutputStream.nullOutputStream())).hasMessageContaining("has 10 bytes, not " + layer.size());
    }

    @Test
    void anArchiveNotInTheOneLayoutIsOfferedOnlyWhole() throws Exception {
        Path upload = TestImageArchives.write(TestImageArchives.legacy("web:1.0.0", amd64), dir.resolve("legacy.tar"));

        assertThat(ArchiveBlobs.split(upload, TestImageArchives.sha256(Files.readAllBytes(upload)), dir.resolve("blobs"))).isEmpty();
    }

    @Test
    void refusesABlobPathOutsideTheLayout() {
        String digest = "sha256:" + "a".repeat(64);
        assertThatThrownBy(() -> new ArchiveBlobs.Part("../../etc/passwd", digest, 1)).hasMessageContaining("blob path");
        assertThatThrownBy(() -> new ArchiveBlobs.Part("blobs/sha256/" + "b".repeat(64), digest, 1)).hasMessageContaining("blob path");
        assertThat(new ArchiveBlobs.Part("blobs/sha256/" + "a".repeat(64), digest, 1).size()).isEqualTo(1);
    }

    private Path normalize(Map<String, byte[]> upload) throws Exception {
        Path source = TestImageArchives.write(upload, Files.createTempFile(dir, "upload-", ".tar"));
        ArchiveEntries entries = ArchiveEntries.read(source);
        ImageArchive.Image image = ImageArchive.images(entries).get(0);
        Path out = Files.createTempFile(dir, "normalized-", ".tar");
        try (OutputStream o = Files.newOutputStream(out)) {
            ImageArchive.writeSinglePlatform(source, entries, image, o);
        }
        return out;
    }
}
