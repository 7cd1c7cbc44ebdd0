package dev.turnout.edge.cache;

import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.Blob;
import dev.turnout.proto.BundleManifest;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.SignedEnvelope;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.SigningKey;
import dev.turnout.proto.image.ArchiveBlobs;
import dev.turnout.proto.image.ArchiveEntries;
import dev.turnout.proto.image.ImageArchive;
import dev.turnout.proto.image.LayerDelta;
import dev.turnout.testsupport.TestImageArchives;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A delta bundle ({@code turnout bundle export APP:VERSION --against OLD}): the device builds the release from the
 * blobs it holds of OLD plus the bundle's blobs and deltas, or refuses, naming what it lacks, and changes nothing.
 */
class DeltaBundleImportTest {

    private static final String PLATFORM = "linux/arm64";

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final byte[] base = new byte[400_000];
    private final Map<String, Path> normalized = new TreeMap<>();

    {
        new Random(7).nextBytes(base);
    }

    private Path blobs() {
        return dir.resolve("store");
    }

    /** The app layer's text (300 KB); version 2 rewrites 1 % of it. */
    private static byte[] appText(int major) {
        Random random = new Random(16);
        byte[] text = new byte[300_000];
        for (int i = 0; i < text.length; i++) {
            text[i] = (byte) ('a' + random.nextInt(26));
        }
        Random edits = new Random(major);
        for (int i = 100_000 * major; i < 100_000 * major + 3_000; i++) {
            text[i] = (byte) ('A' + edits.nextInt(26));
        }
        return text;
    }

    /** The release's image as the orchestrator signs it (blobs split into the store); the app layer is blob 1. */
    private ImageArtifact image(String version) throws Exception {
        byte[] app = TestImageArchives.layerTar(Map.of("www/data.txt", appText(version.charAt(0) - '0')));
        byte[] baseLayer = TestImageArchives.layerTar(Map.of("base.bin", base));
        TestImageArchives.Built image = TestImageArchives.layered(PLATFORM, List.of(baseLayer, app), List.of("/bin/sh"));
        Path upload = TestImageArchives.write(TestImageArchives.ociLayout("web:" + version, image), dir.resolve("upload-" + version + ".tar"));
        ArchiveEntries entries = ArchiveEntries.read(upload);
        ImageArchive.Image parsed = ImageArchive.images(entries).get(0);
        Path archive = dir.resolve("web-" + version + ".tar");
        try (OutputStream out = Files.newOutputStream(archive)) {
            ImageArchive.writeSinglePlatform(upload, entries, parsed, out);
        }
        String digest = TestImageArchives.sha256(Files.readAllBytes(archive));
        normalized.put(version, archive);
        List<ArchiveBlobs.Part> parts = ArchiveBlobs.split(archive, digest, blobs());
        ImageArtifact.Builder artifact = ImageArtifact.newBuilder().setPlatform(PLATFORM).setImageRef("web:" + version)
                .setArchiveDigest(digest).setSize(Files.size(archive)).setUrl("http://127.0.0.1:9/api/v1/artifacts/" + digest)
                .setImageId(parsed.configDigest()).setManifestDigest(parsed.manifestDigest()).addAllDiffIds(parsed.diffIds());
        parts.forEach(p -> artifact.addBlobs(Blob.newBuilder().setPath(p.path()).setDigest(p.digest()).setSize(p.size())));
        return artifact.build();
    }

    private static Release release(String version, ImageArtifact image) {
        return Release.newBuilder().setApp("web").setVersion(version).addImages(image).build();
    }

    private Path stored(String digest) {
        return blobs().resolve(digest.substring("sha256:".length()));
    }

    /** As the orchestrator writes it: blobs of {@code v1} left out, the app layer as a delta, the rest whole. */
    private Map<String, byte[]> deltaEntries(ImageArtifact v1, ImageArtifact v2) throws IOException {
        List<String> held = v1.getBlobsList().stream().map(Blob::getDigest).toList();
        Map<String, byte[]> entries = new LinkedHashMap<>();
        for (Blob blob : v2.getBlobsList()) {
            String name = blob.getDigest().replace(':', '-');
            if (held.contains(blob.getDigest())) {
                continue;
            }
            if (!blob.getDeltaBase().isEmpty()) {
                Path delta = dir.resolve("delta-" + name);
                LayerDelta.write(stored(blob.getDeltaBase()), stored(blob.getDigest()), delta);
                entries.put(BundleImport.DELTAS + name, Files.readAllBytes(delta));
            } else {
                entries.put(BundleImport.BLOBS + name, Files.readAllBytes(stored(blob.getDigest())));
            }
        }
        return entries;
    }

    private Path bundle(String name, SignedEnvelope manifest, Map<String, byte[]> entries) throws IOException {
        Map<String, byte[]> all = new LinkedHashMap<>();
        all.put(BundleImport.MANIFEST, manifest.toByteArray());
        all.putAll(entries);
        return TestBundles.writeEntries(dir.resolve(name), all);
    }

    private SignedEnvelope deltaManifest(Release release, String against) {
        return key.seal(BundleManifest.newBuilder().setApp("web").setRelease(release).setCreatedAtMs(1_800_000_000_000L)
                .setAgainstVersion(against).build());
    }

    private ArtifactCache cache() {
        return new ArtifactCache(dir.resolve("cache"), null, 0, Duration.ZERO); // no orchestrator: nothing may be downloaded
    }

    private BundleImport importer(ArtifactCache cache) {
        return new BundleImport(new EnvelopeVerifier(List.of(key.publicKey())), PLATFORM, cache);
    }

    /** The device holds 1.0.0: its full bundle imported and used by a desired state (which keeps its blobs). */
    private void hold(ArtifactCache cache, ImageArtifact v1) throws Exception {
        Path full = TestBundles.write(dir.resolve("full-1.tar"), TestBundles.manifest(key, release("1.0.0", v1), 1L),
                Map.of(v1.getArchiveDigest(), Files.readAllBytes(normalized.get("1.0.0"))));
        importer(cache).importFile(full);
        cache.fetch(v1);
    }

    private List<String> cacheTree() throws IOException {
        try (Stream<Path> files = Files.walk(dir.resolve("cache"))) {
            return files.map(p -> dir.resolve("cache").relativize(p).toString()).sorted().toList();
        }
    }

    private static ImageArtifact withDeltaBase(ImageArtifact next, ImageArtifact previous) {
        return next.toBuilder().setBlobs(1, next.getBlobs(1).toBuilder().setDeltaBase(previous.getBlobs(1).getDigest())).build();
    }

    @Test
    void aDeviceHoldingTheOldReleaseBuildsTheNewOneFromItsBlobsAndTheBundlesDelta() throws Exception {
        ImageArtifact v1 = image("1.0.0");
        ImageArtifact v2 = withDeltaBase(image("2.0.0"), v1);
        ArtifactCache cache = cache();
        hold(cache, v1);
        Map<String, byte[]> entries = deltaEntries(v1, v2);
        assertThat(entries.keySet()).as("the base layer and oci-layout are left out; the app layer is a delta")
                .noneMatch(e -> e.contains(v1.getBlobs(0).getDigest().substring(7)))
                .anyMatch(e -> e.startsWith(BundleImport.DELTAS));
        Path delta = bundle("delta.tar", deltaManifest(release("2.0.0", v2), "1.0.0"), entries);
        Path full = TestBundles.write(dir.resolve("full-2.tar"), TestBundles.manifest(key, release("2.0.0", v2), 1L),
                Map.of(v2.getArchiveDigest(), Files.readAllBytes(normalized.get("2.0.0"))));
        System.out.printf("bundle of 2.0.0: full %,d bytes, against 1.0.0 %,d bytes%n", Files.size(full), Files.size(delta));
        assertThat(Files.size(delta)).isLessThan(Files.size(full) / 10);

        BundleImport.Imported imported = importer(cache).importFile(delta);

        assertThat(imported.version()).isEqualTo("2.0.0");
        Path archive = cache.fetch(v2); // from the cache: the URL points nowhere
        assertThat(TestImageArchives.sha256(Files.readAllBytes(archive))).isEqualTo(v2.getArchiveDigest());
        assertThat(cacheTree()).noneMatch(f -> f.contains("importing"));
    }

    @Test
    void aDeviceWithoutTheOldReleaseRefusesTheBundleNamingWhatItLacksAndChangesNothing() throws Exception {
        ImageArtifact v1 = image("1.0.0");
        ImageArtifact v2 = withDeltaBase(image("2.0.0"), v1);
        Path delta = bundle("delta.tar", deltaManifest(release("2.0.0", v2), "1.0.0"), deltaEntries(v1, v2));
        ArtifactCache cache = cache();
        Files.createDirectories(dir.resolve("cache"));

        assertThatThrownBy(() -> importer(cache).importFile(delta)).isInstanceOfSatisfying(UpdateFailure.class, e -> {
            assertThat(e.reason()).isEqualTo(Reason.LAYER_MISMATCH);
            assertThat(e.getMessage()).contains("since web 1.0.0", "lacks", v1.getBlobs(0).getDigest(), "nothing changed");
        });
        assertThat(cacheTree()).containsExactly("");
    }

    @Test
    void aDamagedDeltaOrAnAlteredBlobIsRefusedAndTheCacheStaysAsItWas() throws Exception {
        ImageArtifact v1 = image("1.0.0");
        ImageArtifact v2 = withDeltaBase(image("2.0.0"), v1);
        ArtifactCache cache = cache();
        hold(cache, v1);
        List<String> before = cacheTree();
        for (String kind : List.of(BundleImport.DELTAS, BundleImport.BLOBS)) {
            Map<String, byte[]> entries = deltaEntries(v1, v2);
            String victim = entries.keySet().stream().filter(e -> e.startsWith(kind)).findFirst().orElseThrow();
            byte[] bytes = entries.get(victim).clone();
            bytes[bytes.length / 2] ^= 0x10;
            entries.put(victim, bytes);
            Path bad = bundle("bad.tar", deltaManifest(release("2.0.0", v2), "1.0.0"), entries);
            assertThatThrownBy(() -> importer(cache).importFile(bad)).as(kind).isInstanceOfSatisfying(UpdateFailure.class,
                    e -> assertThat(e.reason()).isEqualTo(Reason.DIGEST_MISMATCH));
            assertThat(cacheTree()).as(kind).isEqualTo(before);
        }
    }

    @Test
    void anEntryTheReleaseDoesNotSignIsRefused() throws Exception {
        ImageArtifact v1 = image("1.0.0");
        ImageArtifact v2 = withDeltaBase(image("2.0.0"), v1);
        ArtifactCache cache = cache();
        hold(cache, v1);
        Map<String, byte[]> entries = deltaEntries(v1, v2);
        byte[] extra = "not signed".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        entries.put(BundleImport.BLOBS + TestBundles.digest(extra).replace(':', '-'), extra);
        Path bad = bundle("bad.tar", deltaManifest(release("2.0.0", v2), "1.0.0"), entries);
        assertThatThrownBy(() -> importer(cache).importFile(bad)).isInstanceOfSatisfying(UpdateFailure.class, e -> {
            assertThat(e.reason()).isEqualTo(Reason.MALFORMED);
            assertThat(e.getMessage()).contains("not in the signed manifest");
        });
        assertThat(cache.isCached(v2)).isFalse();
    }
}
