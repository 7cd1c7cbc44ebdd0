package dev.turnout.edge.docker;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ImageArchiveTest {

    @TempDir
    Path dir;

    private Path tar(Path root) throws Exception {
        Path archive = dir.resolve("image.tar");
        Process p = new ProcessBuilder("tar", "-C", root.toString(), "-cf", archive.toString(), ".").inheritIO().start();
        assertThat(p.waitFor()).isZero();
        return archive;
    }

    @Test
    void imageIdIsTheDigestOfTheConfigTheManifestNames() throws Exception {
        Path root = Files.createDirectories(dir.resolve("root"));
        byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\"}".getBytes(StandardCharsets.UTF_8);
        String hex = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(config));
        Files.createDirectories(root.resolve("blobs/sha256"));
        Files.write(root.resolve("blobs/sha256/" + hex), config);
        Files.write(root.resolve("blobs/sha256/" + "a".repeat(64)), new byte[5000]);
        Files.writeString(root.resolve("manifest.json"), "[{\"Config\":\"blobs/sha256/" + hex + "\",\"RepoTags\":[\"demo/web:1\"],\"Layers\":[]}]");
        assertThat(ImageArchive.imageId(tar(root))).isEqualTo("sha256:" + hex);
    }

    @Test
    void anArchiveWithoutManifestIsRefused() throws Exception {
        Path root = Files.createDirectories(dir.resolve("root"));
        Files.writeString(root.resolve("hello.txt"), "hi");
        Path archive = tar(root);
        assertThatThrownBy(() -> ImageArchive.imageId(archive)).isInstanceOf(IOException.class).hasMessageContaining("manifest.json");
    }
}
