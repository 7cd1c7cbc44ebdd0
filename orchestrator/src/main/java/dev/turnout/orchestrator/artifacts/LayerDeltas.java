package dev.turnout.orchestrator.artifacts;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.luben.zstd.ZstdOutputStreamNoFinalizer;
import dev.turnout.orchestrator.domain.ImageBlob;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.proto.image.LayerDelta;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Binary deltas between the layers of two releases of an app ({@link LayerDelta}, zstd with the old layer as the
 * dictionary). {@link #withBases} names, at release creation, the layer of the previous release each changed layer
 * may be made from; {@link #delta} makes a pair's delta once, on first demand, and keeps it on disk under
 * {@code deltas/<base hex>-<target hex>.zst} for every device that asks after it. A pair whose delta would not be
 * clearly smaller than the whole layer on the wire (half of it at most) is remembered as {@code .none} and served whole.
 */
public final class LayerDeltas {

    private static final Logger LOG = LoggerFactory.getLogger(LayerDeltas.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final ArtifactRepository artifacts;
    /** One delta is made at a time: each holds a whole base layer and zstd's tables in memory. */
    private final Object making = new Object();

    LayerDeltas(Path dir, ArtifactRepository artifacts) throws IOException {
        this.dir = dir;
        this.artifacts = artifacts;
        Files.createDirectories(dir);
    }

    /**
     * {@code images} with each changed layer naming the layer at the same position (in the image manifest's layer
     * order) of the image of the same platform and image name in {@code previous}; unchanged when there is none.
     */
    public List<ReleaseImage> withBases(List<ReleaseImage> images, Release previous) {
        if (previous == null || previous.isAgent()) {
            return images;
        }
        List<ReleaseImage> out = new ArrayList<>();
        for (ReleaseImage image : images) {
            ReleaseImage before = previous.images().stream()
                    .filter(p -> p.platform().equals(image.platform()) && sameName(p.imageRef(), image.imageRef()))
                    .findFirst().orElse(null);
            List<String> layers = layers(image);
            List<String> baseLayers = before == null ? List.of() : layers(before);
            if (layers.isEmpty() || baseLayers.isEmpty()) {
                out.add(image);
                continue;
            }
            List<ImageBlob> blobs = new ArrayList<>();
            for (ImageBlob blob : image.blobs()) {
                int at = layers.indexOf(blob.digest());
                String base = at >= 0 && at < baseLayers.size() ? baseLayers.get(at) : null;
                boolean edited = base != null && !baseLayers.contains(blob.digest()) && !layers.contains(base)
                        && blob.size() <= LayerDelta.MAX_LAYER_BYTES;
                blobs.add(edited ? blob.withDeltaBase(base) : blob);
            }
            out.add(new ReleaseImage(image.platform(), image.digest(), image.size(), image.imageId(), image.imageRef(),
                    image.manifestDigest(), image.diffIds(), blobs));
        }
        return out;
    }

    private static boolean sameName(String a, String b) {
        return a == null || b == null || name(a).equals(name(b));
    }

    private static String name(String ref) {
        int slash = ref.lastIndexOf('/');
        int colon = ref.lastIndexOf(':');
        return colon > slash ? ref.substring(0, colon) : ref;
    }

    /** The layer digests of {@code image}, base first, from the archive's {@code manifest.json}; empty if unreadable. */
    private List<String> layers(ReleaseImage image) {
        Optional<ImageBlob> manifest = image.blobs().stream().filter(b -> b.path().equals("manifest.json")).findFirst();
        Optional<Path> file = manifest.flatMap(m -> artifacts.file(m.digest()));
        if (file.isEmpty()) {
            return List.of();
        }
        try {
            JsonNode entries = JSON.readTree(file.get().toFile());
            List<String> layers = new ArrayList<>();
            for (JsonNode layer : entries.path(0).path("Layers")) {
                String path = layer.asText();
                if (!path.startsWith("blobs/sha256/")) {
                    return List.of();
                }
                layers.add("sha256:" + path.substring("blobs/sha256/".length()));
            }
            return layers;
        } catch (IOException e) {
            LOG.warn("cannot read the layers of {}: {}", image.digest(), e.getMessage());
            return List.of();
        }
    }

    /**
     * The delta that turns the stored blob {@code base} into the stored blob {@code target}, made now if it never was;
     * empty when either is not stored or the delta is not worth sending (then the blob goes whole).
     */
    public Optional<Path> delta(String base, String target) throws IOException {
        Optional<Path> baseFile = artifacts.file(base);
        Optional<Path> targetFile = artifacts.file(target);
        if (baseFile.isEmpty() || targetFile.isEmpty() || base.equals(target)) {
            return Optional.empty();
        }
        String pair = hex(base) + "-" + hex(target);
        Path delta = dir.resolve(pair + ".zst");
        Path none = dir.resolve(pair + ".none");
        synchronized (making) {
            if (Files.isRegularFile(delta)) {
                return Optional.of(delta);
            }
            if (Files.exists(none)) {
                return Optional.empty();
            }
            long baseSize = Files.size(baseFile.get());
            long targetSize = Files.size(targetFile.get());
            // a layer four times the size of the old one is new content, not an edit: not worth making (bin/bench wire
            // spent 3.6 s on a 10 MiB layer against a 7 KiB one to find that out)
            if (baseSize > LayerDelta.MAX_LAYER_BYTES || targetSize > LayerDelta.MAX_LAYER_BYTES || baseSize == 0
                    || baseSize * 4 < targetSize) {
                Files.write(none, new byte[0]);
                return Optional.empty();
            }
            long started = System.nanoTime();
            Path part = Files.createTempFile(dir, pair, ".part");
            try {
                LayerDelta.write(baseFile.get(), targetFile.get(), part);
                long size = Files.size(part);
                long whole = wireSize(targetFile.get());
                if (size * 2 > whole) {
                    Files.write(none, new byte[0]);
                    LOG.info("delta {} -> {}: {} bytes, not worth it against {} bytes whole on the wire", base, target, size, whole);
                    return Optional.empty();
                }
                Files.move(part, delta, StandardCopyOption.ATOMIC_MOVE);
                LOG.info("made the delta {} -> {}: {} bytes ({} bytes whole on the wire) in {} ms", base, target, size, whole,
                        (System.nanoTime() - started) / 1_000_000);
                return Optional.of(delta);
            } finally {
                Files.deleteIfExists(part);
            }
        }
    }

    /** How many bytes the blob takes on the wire whole: as stored when compressed already, else about its zstd size. */
    private static long wireSize(Path blob) throws IOException {
        try (InputStream in = Files.newInputStream(blob)) {
            byte[] magic = in.readNBytes(4);
            boolean compressed = magic.length >= 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b
                    || magic.length == 4 && (magic[0] & 0xff) == 0x28 && (magic[1] & 0xff) == 0xb5 && (magic[2] & 0xff) == 0x2f
                    && (magic[3] & 0xff) == 0xfd;
            if (compressed) {
                return Files.size(blob);
            }
        }
        long[] counted = new long[1];
        OutputStream counter = new OutputStream() {
            @Override
            public void write(int b) {
                counted[0]++;
            }

            @Override
            public void write(byte[] b, int off, int len) {
                counted[0] += len;
            }
        };
        try (InputStream in = Files.newInputStream(blob); ZstdOutputStreamNoFinalizer z = new ZstdOutputStreamNoFinalizer(counter, 1)) {
            in.transferTo(z);
        }
        return counted[0];
    }

    private static String hex(String digest) {
        return digest.substring("sha256:".length());
    }
}
