package dev.turnout.testsupport;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

/**
 * Image archives as today's tools write them, made in memory for tests that need their structure rather than a
 * runnable image: Docker 20.10's legacy {@code docker save}, Docker 25+'s OCI layout, and multi-platform OCI
 * archives (an image index). Each is a map of file name to bytes a test may alter before writing it.
 */
public final class TestImageArchives {

    private static final ObjectMapper JSON = new ObjectMapper();

    private TestImageArchives() {
    }

    /** One platform's image: its layers (tar bytes, maybe gzipped), config and OCI manifest. */
    public record Built(String platform, byte[] config, String configDigest, List<byte[]> layers, List<String> diffIds,
                        byte[] manifest, String manifestDigest) {
    }

    /** An image for {@code platform} ("linux/arm/v7") with one layer holding a file that says {@code content}. */
    public static Built image(String platform, String content, boolean gzip) {
        byte[] layerTar = layerTar("app/version.txt", content);
        String diffId = sha256(layerTar);
        byte[] layer = gzip ? gzip(layerTar) : layerTar;
        String[] p = platform.split("/");
        ObjectNode config = JSON.createObjectNode();
        config.put("architecture", p[1]);
        config.put("os", p[0]);
        if (p.length > 2) {
            config.put("variant", p[2]);
        }
        config.putObject("config").putArray("Cmd").add("/bin/sh");
        ObjectNode rootfs = config.putObject("rootfs");
        rootfs.put("type", "layers");
        rootfs.putArray("diff_ids").add(diffId);
        byte[] configBytes = bytes(config);
        ObjectNode manifest = JSON.createObjectNode();
        manifest.put("schemaVersion", 2);
        manifest.put("mediaType", "application/vnd.oci.image.manifest.v1+json");
        descriptor(manifest.putObject("config"), "application/vnd.oci.image.config.v1+json", configBytes);
        descriptor(manifest.putArray("layers").addObject(),
                gzip ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar", layer);
        byte[] manifestBytes = bytes(manifest);
        return new Built(platform, configBytes, sha256(configBytes), List.of(layer), List.of(diffId), manifestBytes, sha256(manifestBytes));
    }

    /**
     * An image for {@code platform} made of {@code layerTars} (uncompressed tars, base first) whose config runs
     * {@code command}: two releases that share a base layer share its blob.
     */
    public static Built layered(String platform, List<byte[]> layerTars, List<String> command) {
        String[] p = platform.split("/");
        ObjectNode config = JSON.createObjectNode();
        config.put("architecture", p[1]);
        config.put("os", p[0]);
        if (p.length > 2) {
            config.put("variant", p[2]);
        }
        ArrayNode cmd = config.putObject("config").putArray("Cmd");
        command.forEach(cmd::add);
        ObjectNode rootfs = config.putObject("rootfs");
        rootfs.put("type", "layers");
        ArrayNode diffIds = rootfs.putArray("diff_ids");
        layerTars.forEach(l -> diffIds.add(sha256(l)));
        byte[] configBytes = bytes(config);
        ObjectNode manifest = JSON.createObjectNode();
        manifest.put("schemaVersion", 2);
        manifest.put("mediaType", "application/vnd.oci.image.manifest.v1+json");
        descriptor(manifest.putObject("config"), "application/vnd.oci.image.config.v1+json", configBytes);
        ArrayNode layers = manifest.putArray("layers");
        layerTars.forEach(l -> descriptor(layers.addObject(), "application/vnd.oci.image.layer.v1.tar", l));
        byte[] manifestBytes = bytes(manifest);
        return new Built(platform, configBytes, sha256(configBytes), List.copyOf(layerTars),
                layerTars.stream().map(TestImageArchives::sha256).toList(), manifestBytes, sha256(manifestBytes));
    }

    /** A layer: a tar of {@code files} (path → bytes, in order, mode 0644, time 0), the same bytes every time. */
    public static byte[] layerTar(Map<String, byte[]> files) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (Map.Entry<String, byte[]> file : files.entrySet()) {
                TarArchiveEntry entry = new TarArchiveEntry(file.getKey());
                entry.setSize(file.getValue().length);
                entry.setMode(0100644);
                entry.setModTime(0);
                tar.putArchiveEntry(entry);
                tar.write(file.getValue());
                tar.closeArchiveEntry();
            }
            tar.finish();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** {@code docker save} of Docker 20.10: {@code <hex>.json}, {@code <id>/layer.tar}, manifest.json, repositories. */
    public static Map<String, byte[]> legacy(String ref, Built image) {
        Map<String, byte[]> files = new LinkedHashMap<>();
        String configName = hex(image.configDigest()) + ".json";
        ArrayNode manifest = JSON.createArrayNode();
        ObjectNode entry = manifest.addObject();
        entry.put("Config", configName);
        entry.putArray("RepoTags").add(ref);
        ArrayNode layers = entry.putArray("Layers");
        for (int i = 0; i < image.layers().size(); i++) {
            String dir = hex(sha256((i + image.configDigest()).getBytes(StandardCharsets.UTF_8)));
            files.put(dir + "/layer.tar", image.layers().get(i));
            files.put(dir + "/VERSION", "1.0".getBytes(StandardCharsets.UTF_8));
            layers.add(dir + "/layer.tar");
        }
        files.put(configName, image.config());
        files.put("manifest.json", bytes(manifest));
        return files;
    }

    /** {@code docker save} of Docker 25+: an OCI layout whose index names the manifest, and a manifest.json beside it. */
    public static Map<String, byte[]> ociLayout(String ref, Built image) {
        Map<String, byte[]> files = new LinkedHashMap<>();
        blobs(files, image);
        ObjectNode index = index();
        ObjectNode d = descriptor(((ArrayNode) index.get("manifests")).addObject(), "application/vnd.oci.image.manifest.v1+json", image.manifest());
        name(d, ref);
        files.put("index.json", bytes(index));
        files.put("manifest.json", bytes(dockerManifest(ref, image)));
        files.put("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8));
        return files;
    }

    /**
     * A multi-platform OCI archive: index.json names an image index listing every platform (and an attestation
     * manifest, as buildx adds); {@code withBlobs} lists the platforms whose blobs are in the archive.
     */
    public static Map<String, byte[]> multiPlatform(String ref, List<Built> images, List<String> withBlobs) {
        Map<String, byte[]> files = new LinkedHashMap<>();
        ObjectNode inner = index();
        for (Built image : images) {
            if (withBlobs.contains(image.platform())) {
                blobs(files, image);
            }
            ObjectNode d = descriptor(((ArrayNode) inner.get("manifests")).addObject(), "application/vnd.oci.image.manifest.v1+json", image.manifest());
            String[] p = image.platform().split("/");
            ObjectNode platform = d.putObject("platform");
            platform.put("architecture", p[1]);
            platform.put("os", p[0]);
            if (p.length > 2) {
                platform.put("variant", p[2]);
            }
        }
        byte[] attestation = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{},\"layers\":[]}"
                .getBytes(StandardCharsets.UTF_8);
        ObjectNode a = descriptor(((ArrayNode) inner.get("manifests")).addObject(), "application/vnd.oci.image.manifest.v1+json", attestation);
        a.putObject("platform").put("architecture", "unknown").put("os", "unknown");
        a.putObject("annotations").put("vnd.docker.reference.type", "attestation-manifest");
        byte[] innerBytes = bytes(inner);
        files.put("blobs/sha256/" + hex(sha256(innerBytes)), innerBytes);
        ObjectNode index = index();
        name(descriptor(((ArrayNode) index.get("manifests")).addObject(), "application/vnd.oci.image.index.v1+json", innerBytes), ref);
        files.put("index.json", bytes(index));
        files.put("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8));
        return files;
    }

    /** Writes the files as a tar. */
    public static Path write(Map<String, byte[]> files, Path tar) {
        try (OutputStream out = Files.newOutputStream(tar); TarArchiveOutputStream t = new TarArchiveOutputStream(out)) {
            t.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (Map.Entry<String, byte[]> file : files.entrySet()) {
                TarArchiveEntry entry = new TarArchiveEntry(file.getKey());
                entry.setSize(file.getValue().length);
                t.putArchiveEntry(entry);
                t.write(file.getValue());
                t.closeArchiveEntry();
            }
            t.finish();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return tar;
    }

    public static String sha256(byte[] data) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The name of a blob in an OCI layout. */
    public static String blob(String digest) {
        return "blobs/sha256/" + hex(digest);
    }

    private static void blobs(Map<String, byte[]> files, Built image) {
        image.layers().forEach(l -> files.put(blob(sha256(l)), l));
        files.put(blob(image.configDigest()), image.config());
        files.put(blob(image.manifestDigest()), image.manifest());
    }

    private static ArrayNode dockerManifest(String ref, Built image) {
        ArrayNode manifest = JSON.createArrayNode();
        ObjectNode entry = manifest.addObject();
        entry.put("Config", blob(image.configDigest()));
        entry.putArray("RepoTags").add(ref);
        ArrayNode layers = entry.putArray("Layers");
        image.layers().forEach(l -> layers.add(blob(sha256(l))));
        return manifest;
    }

    private static ObjectNode index() {
        ObjectNode index = JSON.createObjectNode();
        index.put("schemaVersion", 2);
        index.put("mediaType", "application/vnd.oci.image.index.v1+json");
        index.putArray("manifests");
        return index;
    }

    private static void name(ObjectNode descriptor, String ref) {
        String tag = ref.substring(ref.lastIndexOf(':') + 1);
        String name = ref.contains("/") ? "docker.io/" + ref : "docker.io/library/" + ref;
        descriptor.putObject("annotations").put("io.containerd.image.name", name).put("org.opencontainers.image.ref.name", tag);
    }

    private static ObjectNode descriptor(ObjectNode node, String mediaType, byte[] content) {
        node.put("mediaType", mediaType);
        node.put("digest", sha256(content));
        node.put("size", content.length);
        return node;
    }

    private static byte[] layerTar(String name, String content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            byte[] data = content.getBytes(StandardCharsets.UTF_8);
            TarArchiveEntry entry = new TarArchiveEntry(name);
            entry.setSize(data.length);
            entry.setModTime(0);
            tar.putArchiveEntry(entry);
            tar.write(data);
            tar.closeArchiveEntry();
            tar.finish();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static byte[] gzip(byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static byte[] bytes(Object node) {
        try {
            return JSON.writeValueAsBytes(node);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String hex(String digest) {
        return digest.substring(digest.indexOf(':') + 1);
    }
}
