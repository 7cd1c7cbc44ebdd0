package dev.turnout.orchestrator.http;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** Builds small archives laid out like the legacy {@code docker save} output (Docker 20.10), for linux/arm64. */
public final class DockerSaveArchives {

    public record Archive(byte[] bytes, String configSha256) {
    }

    private DockerSaveArchives() {
    }

    public static Archive of(String repoTag, String marker) throws IOException {
        byte[] layer = ("layer of " + marker + " ").repeat(200).getBytes(StandardCharsets.UTF_8);
        byte[] config = ("{\"architecture\":\"arm64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"v\":\"" + marker + "\"}},"
                + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:" + sha256(layer) + "\"]}}").getBytes(StandardCharsets.UTF_8);
        String configHex = sha256(config);
        String manifest = "[{\"Config\":\"" + configHex + ".json\",\"RepoTags\":[\"" + repoTag + "\"],\"Layers\":[\"abc/layer.tar\"]}]";
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            add(tar, "abc/layer.tar", layer);
            add(tar, configHex + ".json", config);
            add(tar, "manifest.json", manifest.getBytes(StandardCharsets.UTF_8));
            add(tar, "repositories", "{}".getBytes(StandardCharsets.UTF_8));
        }
        return new Archive(out.toByteArray(), configHex);
    }

    private static void add(TarArchiveOutputStream tar, String name, byte[] data) throws IOException {
        TarArchiveEntry entry = new TarArchiveEntry(name);
        entry.setSize(data.length);
        tar.putArchiveEntry(entry);
        tar.write(data);
        tar.closeArchiveEntry();
    }

    static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
