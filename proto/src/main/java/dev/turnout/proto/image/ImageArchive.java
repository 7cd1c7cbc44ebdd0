package dev.turnout.proto.image;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The images in an archive from today's tools, and the one archive layout Turnout ships to devices.
 *
 * <p>Reads: a {@code docker save} archive in the legacy layout ({@code manifest.json}, Docker up to 24 and the
 * classic store), in the OCI layout ({@code oci-layout}, {@code index.json}, {@code blobs/sha256/…}, Docker 25+ and
 * the containerd store), and OCI multi-platform archives (an image index: {@code docker buildx build --output
 * type=oci}, {@code podman save --format oci-archive}, {@code docker save} of a multi-platform image).
 *
 * <p>Writes, for one platform, the layout both image stores load to a known id: an OCI image layout whose
 * {@code index.json} names the one image manifest (the containerd store makes that manifest's digest the image id),
 * with a {@code manifest.json} beside it naming the same config and layer blobs (the classic store reads only that
 * and makes the config digest the image id). A legacy archive gets an OCI manifest written for it, so its manifest
 * digest is fixed when the release is made, not computed anew by each device's containerd.
 */
public final class ImageArchive {

    public static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
    public static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    public static final String OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
    public static final String DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
    public static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
    static final String ANNOTATION_IMAGE_NAME = "io.containerd.image.name";
    static final String ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A layer: the archive file holding it, the digest and size of that file, its media type. */
    public record Layer(String entryName, String digest, long size, String mediaType) {
    }

    /**
     * One platform's image in an archive.
     *
     * @param platform       "linux/amd64", "linux/arm64", "linux/arm/v7", ...
     * @param ref            the reference the archive names it by ("trains/controller:1.4.2"), or null
     * @param configDigest   sha256 of the image config: the image id on the classic store
     * @param configEntry    the archive file holding the config
     * @param manifestDigest sha256 of the image manifest (the image id on the containerd store); null for a legacy archive
     * @param manifest       the manifest's bytes; null for a legacy archive
     * @param layers         the layers, base first
     * @param diffIds        the config's {@code rootfs.diff_ids}: what an engine reports as the image's layers
     */
    public record Image(String platform, String ref, String configDigest, String configEntry, String manifestDigest,
                        byte[] manifest, List<Layer> layers, List<String> diffIds) {
    }

    private ImageArchive() {
    }

    /**
     * The images the archive holds, one per platform. More than one image for a platform, or more than one image
     * named in the archive (two tags of one image are one), is refused: one archive, one image.
     */
    public static List<Image> images(ArchiveEntries archive) throws InvalidImageArchiveException {
        if (archive.has("index.json") && archive.has("oci-layout")) {
            return ociImages(archive);
        }
        if (archive.has("manifest.json")) {
            return List.of(legacyImage(archive));
        }
        throw new InvalidImageArchiveException("it has neither a manifest.json (docker save) nor an OCI index.json and oci-layout");
    }

    // ---- OCI layouts ----

    private static List<Image> ociImages(ArchiveEntries archive) throws InvalidImageArchiveException {
        JsonNode index = json(archive, "index.json");
        List<JsonNode> top = new ArrayList<>();
        Set<String> digests = new LinkedHashSet<>();
        for (JsonNode descriptor : index.path("manifests")) {
            if (isAttestation(descriptor) || descriptor.path("annotations").has("org.opencontainers.image.subject")) {
                continue;
            }
            if (digests.add(digest(descriptor, "index.json"))) {
                top.add(descriptor);
            }
        }
        if (top.isEmpty()) {
            throw new InvalidImageArchiveException("its index.json names no image");
        }
        if (top.size() > 1) {
            throw new InvalidImageArchiveException("it holds " + top.size() + " images (" + String.join(", ", digests)
                    + "); save one image per archive (its platforms may be many)");
        }
        JsonNode root = top.get(0);
        String ref = refOf(root, archive);
        Map<String, Image> byPlatform = new LinkedHashMap<>();
        collect(archive, root, ref, byPlatform, 0, true);
        if (byPlatform.isEmpty()) {
            throw new InvalidImageArchiveException("its index names no image manifest whose blobs are in the archive");
        }
        return List.copyOf(byPlatform.values());
    }

    private static void collect(ArchiveEntries archive, JsonNode descriptor, String ref, Map<String, Image> byPlatform,
                                int depth, boolean required) throws InvalidImageArchiveException {
        if (depth > 4) {
            throw new InvalidImageArchiveException("its indexes nest too deep");
        }
        String digest = digest(descriptor, "index.json");
        Optional<ArchiveEntries.Entry> blob = archive.blob(digest);
        if (blob.isEmpty()) {
            if (required) {
                throw new InvalidImageArchiveException("the blob of " + digest + ", named by its index, is missing");
            }
            return; // a platform the saving engine did not have: not in this archive
        }
        checkBlob(blob.get(), digest);
        JsonNode node = parse(blob.get().content(), blob.get().name());
        String mediaType = node.path("mediaType").asText(descriptor.path("mediaType").asText(""));
        if (mediaType.equals(OCI_INDEX) || mediaType.equals(DOCKER_MANIFEST_LIST) || (mediaType.isEmpty() && node.has("manifests"))) {
            for (JsonNode child : node.path("manifests")) {
                if (isAttestation(child) || "unknown".equals(child.path("platform").path("os").asText())) {
                    continue;
                }
                collect(archive, child, ref, byPlatform, depth + 1, false);
            }
            return;
        }
        if (!node.has("config") || !node.has("layers")) {
            throw new InvalidImageArchiveException(digest + " is neither an image index nor an image manifest");
        }
        String configDigest = digest(node.path("config"), digest);
        ArchiveEntries.Entry config = archive.blob(configDigest)
                .orElseThrow(() -> new InvalidImageArchiveException("the image config " + configDigest + " is missing"));
        checkBlob(config, configDigest);
        List<Layer> layers = new ArrayList<>();
        for (JsonNode layer : node.path("layers")) {
            String layerDigest = digest(layer, digest);
            ArchiveEntries.Entry entry = archive.blob(layerDigest)
                    .orElseThrow(() -> new InvalidImageArchiveException("layer " + layerDigest + " of " + digest + " is missing"));
            checkBlob(entry, layerDigest);
            layers.add(new Layer(entry.name(), layerDigest, entry.size(), layer.path("mediaType").asText("")));
        }
        Image image = image(config, ref, digest, blob.get().content(), layers);
        Image before = byPlatform.putIfAbsent(image.platform(), image);
        if (before != null && !before.manifestDigest().equals(image.manifestDigest())) {
            throw new InvalidImageArchiveException("it holds two images for " + image.platform() + " (" + before.manifestDigest()
                    + ", " + image.manifestDigest() + "); save one image per archive");
        }
    }

    private static boolean isAttestation(JsonNode descriptor) {
        return "attestation-manifest".equals(descriptor.path("annotations").path("vnd.docker.reference.type").asText());
    }

    /** The reference an OCI archive names its image by: manifest.json's tag, else containerd's or OCI's annotation. */
    private static String refOf(JsonNode descriptor, ArchiveEntries archive) throws InvalidImageArchiveException {
        if (archive.has("manifest.json")) {
            JsonNode first = json(archive, "manifest.json").path(0).path("RepoTags").path(0);
            if (first.isTextual()) {
                return first.asText();
            }
        }
        String name = descriptor.path("annotations").path(ANNOTATION_IMAGE_NAME).asText("");
        if (!name.isEmpty()) {
            return familiar(name);
        }
        String refName = descriptor.path("annotations").path(ANNOTATION_REF_NAME).asText("");
        return refName.contains(":") || refName.contains("/") ? familiar(refName) : null;
    }

    // ---- legacy docker save ----

    private static Image legacyImage(ArchiveEntries archive) throws InvalidImageArchiveException {
        JsonNode manifest = json(archive, "manifest.json");
        if (!manifest.isArray() || manifest.isEmpty()) {
            throw new InvalidImageArchiveException("its manifest.json names no image");
        }
        if (manifest.size() > 1) {
            throw new InvalidImageArchiveException("it holds " + manifest.size() + " images; save one image per archive");
        }
        JsonNode entry = manifest.get(0);
        String configName = entry.path("Config").asText("");
        ArchiveEntries.Entry config = archive.entry(configName).orElseThrow(() ->
                new InvalidImageArchiveException("the image config '" + configName + "' named by manifest.json is missing"));
        List<Layer> layers = new ArrayList<>();
        for (JsonNode layerName : entry.path("Layers")) {
            ArchiveEntries.Entry layer = archive.entry(layerName.asText()).orElseThrow(() ->
                    new InvalidImageArchiveException("layer " + layerName.asText() + " named by manifest.json is missing"));
            layers.add(new Layer(layer.name(), layer.digest(), layer.size(), layerMediaType(layer.magic())));
        }
        JsonNode tags = entry.path("RepoTags");
        String ref = tags.isArray() && !tags.isEmpty() ? tags.get(0).asText(null) : null;
        return image(config, ref, null, null, layers);
    }

    /** An OCI media type for a layer file, from its first bytes (legacy archives say nothing). */
    static String layerMediaType(byte[] magic) {
        if (magic.length >= 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b) {
            return "application/vnd.oci.image.layer.v1.tar+gzip";
        }
        if (magic.length >= 4 && (magic[0] & 0xff) == 0x28 && (magic[1] & 0xff) == 0xb5 && (magic[2] & 0xff) == 0x2f
                && (magic[3] & 0xff) == 0xfd) {
            return "application/vnd.oci.image.layer.v1.tar+zstd";
        }
        return "application/vnd.oci.image.layer.v1.tar";
    }

    // ---- both ----

    private static Image image(ArchiveEntries.Entry config, String ref, String manifestDigest, byte[] manifest,
                               List<Layer> layers) throws InvalidImageArchiveException {
        JsonNode c = parse(config.content(), config.name());
        List<String> diffIds = new ArrayList<>();
        for (JsonNode id : c.path("rootfs").path("diff_ids")) {
            diffIds.add(id.asText());
        }
        if (diffIds.size() != layers.size()) {
            throw new InvalidImageArchiveException("the image config " + config.digest() + " lists " + diffIds.size()
                    + " layers but the image has " + layers.size());
        }
        return new Image(platform(c), ref, config.digest(), config.name(), manifestDigest, manifest, List.copyOf(layers),
                List.copyOf(diffIds));
    }

    /** "os/architecture[/variant]" of an image config, as Docker names platforms (arm64's v8 and arm's v7 default). */
    static String platform(JsonNode config) throws InvalidImageArchiveException {
        String os = config.path("os").asText("");
        String arch = config.path("architecture").asText("");
        if (os.isEmpty() || arch.isEmpty()) {
            throw new InvalidImageArchiveException("the image config names no os and architecture");
        }
        String variant = config.path("variant").asText("");
        if (arch.equals("arm64") && variant.equals("v8")) {
            variant = "";
        }
        if (arch.equals("arm") && variant.isEmpty()) {
            variant = "v7";
        }
        return os + "/" + arch + (variant.isEmpty() ? "" : "/" + variant);
    }

    private static void checkBlob(ArchiveEntries.Entry blob, String digest) throws InvalidImageArchiveException {
        if (!blob.digest().equals(digest)) {
            throw new InvalidImageArchiveException("blob " + digest + " is damaged: its content hashes to " + blob.digest());
        }
    }

    private static String digest(JsonNode descriptor, String where) throws InvalidImageArchiveException {
        String digest = descriptor.path("digest").asText("");
        if (!digest.matches("sha256:[0-9a-f]{64}")) {
            throw new InvalidImageArchiveException(where + " names '" + digest + "' where a sha256 digest belongs");
        }
        return digest;
    }

    static JsonNode json(ArchiveEntries archive, String name) throws InvalidImageArchiveException {
        ArchiveEntries.Entry entry = archive.entry(name).orElseThrow(() -> new InvalidImageArchiveException("it has no " + name));
        return parse(entry.content(), name);
    }

    private static JsonNode parse(byte[] bytes, String name) throws InvalidImageArchiveException {
        try {
            JsonNode node = JSON.readTree(bytes);
            if (node == null || node.isMissingNode()) {
                throw new InvalidImageArchiveException(name + " is empty");
            }
            return node;
        } catch (IOException e) {
            throw new InvalidImageArchiveException(name + " is not JSON");
        }
    }

    /** "docker.io/library/web:1" → "web:1"; "docker.io/trains/ctl:2" → "trains/ctl:2"; others unchanged. */
    static String familiar(String name) {
        String n = name.startsWith("docker.io/") ? name.substring("docker.io/".length()) : name;
        return n.startsWith("library/") && n.indexOf('/', "library/".length()) < 0 ? n.substring("library/".length()) : n;
    }

    /** "web:1" → "docker.io/library/web:1"; a reference without a tag gets ":latest". */
    public static String normalizedName(String ref) {
        String name = ref;
        int slash = name.indexOf('/');
        String first = slash < 0 ? "" : name.substring(0, slash);
        boolean hasRegistry = slash > 0 && (first.contains(".") || first.contains(":") || first.equals("localhost"));
        if (!hasRegistry) {
            name = (slash < 0 ? "docker.io/library/" : "docker.io/") + name;
        }
        int lastSlash = name.lastIndexOf('/');
        if (name.indexOf(':', lastSlash) < 0 && !name.contains("@")) {
            name = name + ":latest";
        }
        return name;
    }

    // ---- writing the one layout devices get ----

    /**
     * Writes {@code image} of the archive {@code source} as the single-platform layout devices get (see the class
     * comment): deterministic, so the same image always gives the same bytes and the same digest.
     */
    public static void writeSinglePlatform(Path source, ArchiveEntries entries, Image image, OutputStream out)
            throws IOException, InvalidImageArchiveException {
        byte[] config = entries.entry(image.configEntry()).orElseThrow().content();
        byte[] manifest = image.manifest() != null ? image.manifest() : legacyManifest(image, config.length);
        String manifestDigest = ArchiveEntries.sha256(manifest);
        Map<String, String> blobBySource = new LinkedHashMap<>(); // source file → blob name, layers in manifest order
        for (Layer layer : image.layers()) {
            blobBySource.putIfAbsent(layer.entryName(), ArchiveEntries.blobName(layer.digest()));
        }
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            directory(tar, "blobs/");
            directory(tar, "blobs/sha256/");
            copyLayers(source, blobBySource, tar);
            file(tar, ArchiveEntries.blobName(image.configDigest()), config);
            file(tar, ArchiveEntries.blobName(manifestDigest), manifest);
            file(tar, "index.json", index(image, manifest, manifestDigest));
            file(tar, "manifest.json", dockerManifest(image));
            file(tar, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8));
            tar.finish();
        }
    }

    /** The manifest digest {@link #writeSinglePlatform} gives {@code image}. */
    public static String manifestDigest(ArchiveEntries entries, Image image) throws InvalidImageArchiveException {
        if (image.manifestDigest() != null) {
            return image.manifestDigest();
        }
        byte[] config = entries.entry(image.configEntry()).orElseThrow().content();
        return ArchiveEntries.sha256(legacyManifest(image, config.length));
    }

    private static byte[] legacyManifest(Image image, long configSize) {
        ObjectNode manifest = JSON.createObjectNode();
        manifest.put("schemaVersion", 2);
        manifest.put("mediaType", OCI_MANIFEST);
        ObjectNode config = manifest.putObject("config");
        config.put("mediaType", OCI_CONFIG);
        config.put("digest", image.configDigest());
        config.put("size", configSize);
        ArrayNode layers = manifest.putArray("layers");
        for (Layer layer : image.layers()) {
            ObjectNode l = layers.addObject();
            l.put("mediaType", layer.mediaType());
            l.put("digest", layer.digest());
            l.put("size", layer.size());
        }
        return manifest.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] index(Image image, byte[] manifest, String manifestDigest) throws InvalidImageArchiveException {
        JsonNode m = parse(manifest, "the manifest");
        ObjectNode index = JSON.createObjectNode();
        index.put("schemaVersion", 2);
        index.put("mediaType", OCI_INDEX);
        ObjectNode descriptor = index.putArray("manifests").addObject();
        descriptor.put("mediaType", m.path("mediaType").asText(OCI_MANIFEST));
        descriptor.put("digest", manifestDigest);
        descriptor.put("size", manifest.length);
        if (image.ref() != null) {
            String name = normalizedName(image.ref());
            ObjectNode annotations = descriptor.putObject("annotations");
            annotations.put(ANNOTATION_IMAGE_NAME, name);
            annotations.put(ANNOTATION_REF_NAME, name.substring(name.lastIndexOf(':') + 1));
        }
        String[] platform = image.platform().split("/");
        ObjectNode p = descriptor.putObject("platform");
        p.put("architecture", platform[1]);
        p.put("os", platform[0]);
        if (platform.length > 2) {
            p.put("variant", platform[2]);
        }
        return index.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] dockerManifest(Image image) {
        ArrayNode manifest = JSON.createArrayNode();
        ObjectNode entry = manifest.addObject();
        entry.put("Config", ArchiveEntries.blobName(image.configDigest()));
        ArrayNode tags = entry.putArray("RepoTags");
        if (image.ref() != null) {
            tags.add(image.ref());
        }
        ArrayNode layers = entry.putArray("Layers");
        image.layers().forEach(l -> layers.add(ArchiveEntries.blobName(l.digest())));
        return manifest.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static void copyLayers(Path source, Map<String, String> blobBySource, TarArchiveOutputStream out) throws IOException {
        Set<String> written = new LinkedHashSet<>();
        try (InputStream in = new BufferedInputStream(Files.newInputStream(source), 64 * 1024);
             TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
            TarArchiveEntry entry;
            while ((entry = tar.getNextEntry()) != null) {
                String blob = entry.isFile() ? blobBySource.get(ArchiveEntries.clean(entry.getName())) : null;
                if (blob == null || !written.add(blob)) {
                    continue;
                }
                TarArchiveEntry copy = fileEntry(blob, entry.getSize());
                out.putArchiveEntry(copy);
                tar.transferTo(out);
                out.closeArchiveEntry();
            }
        }
        if (written.size() != new LinkedHashSet<>(blobBySource.values()).size()) {
            throw new IOException("the archive changed while it was being read");
        }
    }

    private static void directory(TarArchiveOutputStream tar, String name) throws IOException {
        TarArchiveEntry entry = new TarArchiveEntry(name);
        entry.setMode(040755);
        entry.setModTime(0);
        tar.putArchiveEntry(entry);
        tar.closeArchiveEntry();
    }

    private static void file(TarArchiveOutputStream tar, String name, byte[] bytes) throws IOException {
        tar.putArchiveEntry(fileEntry(name, bytes.length));
        new ByteArrayInputStream(bytes).transferTo(tar);
        tar.closeArchiveEntry();
    }

    private static TarArchiveEntry fileEntry(String name, long size) {
        TarArchiveEntry entry = new TarArchiveEntry(name);
        entry.setSize(size);
        entry.setMode(0100644);
        entry.setModTime(0);
        return entry;
    }
}
