package dev.turnout.orchestrator.artifacts;

import dev.turnout.orchestrator.domain.InvalidInputException;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DockerArchiveTest {

    @TempDir
    Path dir;

    @Test
    void readsTheDocker2010Layout() throws Exception {
        byte[] config = "{\"os\":\"linux\"}".getBytes(StandardCharsets.UTF_8);
        String hex = sha256(config);
        Path tar = tar(Map.of(hex + ".json", config, "manifest.json",
                ("[{\"Config\":\"" + hex + ".json\",\"RepoTags\":[\"demo/web:1.0.0\"],\"Layers\":[]}]").getBytes(StandardCharsets.UTF_8)));
        DockerArchive.Image image = DockerArchive.inspect(tar);
        assertThat(image.imageId()).isEqualTo("sha256:" + hex);
        assertThat(image.imageRef()).isEqualTo("demo/web:1.0.0");
    }

    @Test
    void readsTheOciLayoutWithoutTags() throws Exception {
        byte[] config = "{\"os\":\"linux\",\"architecture\":\"arm64\"}".getBytes(StandardCharsets.UTF_8);
        String hex = sha256(config);
        Path tar = tar(Map.of("blobs/sha256/" + hex, config, "manifest.json",
                ("[{\"Config\":\"blobs/sha256/" + hex + "\",\"RepoTags\":null,\"Layers\":[]}]").getBytes(StandardCharsets.UTF_8)));
        DockerArchive.Image image = DockerArchive.inspect(tar);
        assertThat(image.imageId()).isEqualTo("sha256:" + hex);
        assertThat(image.imageRef()).isNull();
    }

    @Test
    void refusesArchivesThatAreNotOneDockerImage() throws Exception {
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        assertThatThrownBy(() -> DockerArchive.inspect(tar(Map.of("a.json", config))))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("no manifest.json");
        assertThatThrownBy(() -> DockerArchive.inspect(tar(Map.of("manifest.json",
                "[{\"Config\":\"missing.json\"}]".getBytes(StandardCharsets.UTF_8)))))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("missing.json");
        assertThatThrownBy(() -> DockerArchive.inspect(tar(Map.of("a.json", config, "manifest.json",
                "[{\"Config\":\"a.json\"},{\"Config\":\"a.json\"}]".getBytes(StandardCharsets.UTF_8)))))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("2 images");
        Path text = dir.resolve("text");
        Files.writeString(text, "hello");
        assertThatThrownBy(() -> DockerArchive.inspect(text)).isInstanceOf(InvalidInputException.class);
    }

    private Path tar(Map<String, byte[]> entries) throws IOException {
        Path file = Files.createTempFile(dir, "image", ".tar");
        try (OutputStream out = Files.newOutputStream(file); TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            for (Map.Entry<String, byte[]> e : new LinkedHashMap<>(entries).entrySet()) {
                TarArchiveEntry entry = new TarArchiveEntry(e.getKey());
                entry.setSize(e.getValue().length);
                tar.putArchiveEntry(entry);
                tar.write(e.getValue());
                tar.closeArchiveEntry();
            }
        }
        return file;
    }

    private static String sha256(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }
}
