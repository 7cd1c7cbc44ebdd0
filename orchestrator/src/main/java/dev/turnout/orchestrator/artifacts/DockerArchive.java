package dev.turnout.orchestrator.artifacts;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.domain.InvalidInputException;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/** Reads what Turnout needs from a {@code docker save} archive: the image id and its first tag. */
public final class DockerArchive {

    private static final int MAX_MANIFEST_BYTES = 1 << 20;

    /** The image described by an archive. */
    public record Image(String imageId, String imageRef) {
    }

    private DockerArchive() {
    }

    /**
     * Inspects {@code tar}. The image id is {@code sha256:} + the sha256 of the image config file,
     * which works for Docker's {@code <hex>.json} layout and OCI's {@code blobs/sha256/<hex>}.
     */
    public static Image inspect(Path tar) throws IOException {
        byte[] manifest = null;
        Map<String, String> sha256ByEntry = new HashMap<>();
        try (InputStream in = new BufferedInputStream(Files.newInputStream(tar));
             TarArchiveInputStream entries = new TarArchiveInputStream(in)) {
            TarArchiveEntry entry;
            while ((entry = entries.getNextEntry()) != null) {
                if (!entry.isFile()) {
                    continue;
                }
                String name = normalize(entry.getName());
                if (name.equals("manifest.json")) {
                    if (entry.getSize() > MAX_MANIFEST_BYTES) {
                        throw notDockerSave("manifest.json is too large");
                    }
                    manifest = entries.readAllBytes();
                    sha256ByEntry.put(name, sha256Hex(manifest));
                } else {
                    sha256ByEntry.put(name, sha256Hex(entries));
                }
            }
        } catch (IOException | IllegalArgumentException e) {
            throw notDockerSave("it is not a readable tar archive (" + e.getMessage() + ")");
        }
        if (manifest == null) {
            throw notDockerSave("it has no manifest.json");
        }
        JsonNode images;
        try {
            images = new ObjectMapper().readTree(manifest);
        } catch (IOException e) {
            throw notDockerSave("its manifest.json is not JSON");
        }
        if (images == null || !images.isArray() || images.isEmpty()) {
            throw notDockerSave("its manifest.json names no image");
        }
        if (images.size() > 1) {
            throw notDockerSave("it holds " + images.size() + " images; save one image per archive");
        }
        JsonNode image = images.get(0);
        String config = image.path("Config").asText("");
        String configSha = sha256ByEntry.get(normalize(config));
        if (config.isEmpty() || configSha == null) {
            throw notDockerSave("the image config '" + config + "' named by manifest.json is missing");
        }
        JsonNode tags = image.path("RepoTags");
        String ref = tags.isArray() && !tags.isEmpty() ? tags.get(0).asText(null) : null;
        return new Image("sha256:" + configSha, ref);
    }

    private static InvalidInputException notDockerSave(String why) {
        return new InvalidInputException("not a docker save archive: " + why);
    }

    private static String normalize(String name) {
        return name.startsWith("./") ? name.substring(2) : name;
    }

    private static String sha256Hex(byte[] data) {
        return HexFormat.of().formatHex(sha256().digest(data));
    }

    static String sha256Hex(InputStream in) throws IOException {
        MessageDigest digest = sha256();
        byte[] buffer = new byte[64 * 1024];
        int n;
        while ((n = in.read(buffer)) > 0) {
            digest.update(buffer, 0, n);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
