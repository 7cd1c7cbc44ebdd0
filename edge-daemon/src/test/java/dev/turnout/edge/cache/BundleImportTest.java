package dev.turnout.edge.cache;

import com.google.protobuf.ByteString;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.SignedEnvelope;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class BundleImportTest {

    private static final String PLATFORM = "linux/arm64";

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final byte[] arm64 = bytes(1, 200_000);
    private final byte[] amd64 = bytes(2, 150_000);

    private static byte[] bytes(int seed, int n) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static ImageArtifact artifact(String platform, byte[] content) {
        String digest = TestBundles.digest(content);
        // the URL points nowhere: after an import nothing may be downloaded
        return ImageArtifact.newBuilder().setPlatform(platform).setImageRef("trains/controller:1.4.2").setArchiveDigest(digest)
                .setSize(content.length).setUrl("http://127.0.0.1:9/artifacts/" + digest).setImageId("sha256:" + "a".repeat(64)).build();
    }

    private Release release() {
        return Release.newBuilder().setApp("controller").setVersion("1.4.2").addImages(artifact("linux/amd64", amd64))
                .addImages(artifact(PLATFORM, arm64)).build();
    }

    private ArtifactCache cache() {
        return new ArtifactCache(dir.resolve("cache"), null, 0, Duration.ZERO);
    }

    private BundleImport importer(ArtifactCache cache) {
        return new BundleImport(new EnvelopeVerifier(List.of(key.publicKey())), PLATFORM, cache);
    }

    private Path bundle(SignedEnvelope manifest, Map<String, byte[]> archives) throws IOException {
        return TestBundles.write(dir.resolve("bundle.tar"), manifest, archives);
    }

    private Path goodBundle() throws IOException {
        Map<String, byte[]> archives = new LinkedHashMap<>();
        archives.put(TestBundles.digest(amd64), amd64);
        archives.put(TestBundles.digest(arm64), arm64);
        return bundle(TestBundles.manifest(key, release(), 1_800_000_000_000L), archives);
    }

    private List<String> cacheFiles() throws IOException {
        Path cacheDir = dir.resolve("cache");
        if (!Files.isDirectory(cacheDir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(cacheDir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void importsTheArchiveForThisPlatformAndLaterFetchesNeedNoNetwork() throws Exception {
        ArtifactCache cache = cache();
        BundleImport.Imported imported = importer(cache).importFile(goodBundle());
        assertThat(imported.app()).isEqualTo("controller");
        assertThat(imported.version()).isEqualTo("1.4.2");
        assertThat(imported.artifact().getPlatform()).isEqualTo(PLATFORM);
        String base = TestBundles.digest(arm64).replace(':', '-');
        assertThat(cacheFiles()).containsExactly(base + ".imported", base + ".tar"); // the amd64 archive is skipped
        Path fetched = cache.fetch(artifact(PLATFORM, arm64)); // would fail if it tried the URL
        assertThat(Files.readAllBytes(fetched)).isEqualTo(arm64);
    }

    @Test
    void anImportedArchiveSurvivesRetentionUntilADesiredStateHasUsedIt() throws Exception {
        ArtifactCache cache = cache();
        importer(cache).importFile(goodBundle());
        String base = TestBundles.digest(arm64).replace(':', '-');
        cache.retainOnly(List.of());
        assertThat(cacheFiles()).contains(base + ".tar");
        cache.fetch(artifact(PLATFORM, arm64));
        cache.retainOnly(List.of());
        assertThat(cacheFiles()).isEmpty();
    }

    @Test
    void aManifestSignedByAnUnknownKeyIsRefused() throws Exception {
        Path bundle = bundle(TestBundles.manifest(SigningKey.generate(), release(), 1), Map.of(TestBundles.digest(arm64), arm64));
        assertRefused(bundle, Reason.UNKNOWN_KEY);
    }

    @Test
    void aTamperedManifestIsRefused() throws Exception {
        SignedEnvelope manifest = TestBundles.manifest(key, release(), 1);
        byte[] payload = manifest.getPayload().toByteArray();
        payload[payload.length - 1] ^= 1;
        Path bundle = bundle(manifest.toBuilder().setPayload(ByteString.copyFrom(payload)).build(), Map.of(TestBundles.digest(arm64), arm64));
        assertRefused(bundle, Reason.BAD_SIGNATURE);
    }

    @Test
    void anArchiveWhoseBytesDoNotMatchTheSignedDigestIsRefusedAndRemoved() throws Exception {
        byte[] swapped = arm64.clone();
        swapped[1000] ^= 1;
        Path bundle = bundle(TestBundles.manifest(key, release(), 1), Map.of(TestBundles.digest(arm64), swapped));
        assertRefused(bundle, Reason.DIGEST_MISMATCH);
    }

    @Test
    void anArchiveLongerThanSignedIsRefused() throws Exception {
        Path bundle = bundle(TestBundles.manifest(key, release(), 1),
                Map.of(TestBundles.digest(arm64), Arrays.copyOf(arm64, arm64.length + 512)));
        assertRefused(bundle, Reason.SIZE_MISMATCH);
    }

    @Test
    void aBundleWithoutAnArchiveForThisPlatformIsRefused() throws Exception {
        Release amd64Only = release().toBuilder().removeImages(1).build();
        assertRefused(bundle(TestBundles.manifest(key, amd64Only, 1), Map.of(TestBundles.digest(amd64), amd64)), Reason.NO_IMAGE_FOR_PLATFORM);
        assertRefused(bundle(TestBundles.manifest(key, release(), 1), Map.of(TestBundles.digest(amd64), amd64)), Reason.NO_IMAGE_FOR_PLATFORM);
    }

    @Test
    void entriesTheManifestDoesNotSignOrAManifestThatIsNotFirstAreRefused() throws Exception {
        byte[] other = bytes(3, 1000);
        assertRefused(bundle(TestBundles.manifest(key, release(), 1), Map.of(TestBundles.digest(other), other)), Reason.MALFORMED);
        Map<String, byte[]> reordered = new LinkedHashMap<>();
        reordered.put(BundleImport.ARTIFACTS + TestBundles.digest(arm64).replace(':', '-'), arm64);
        reordered.put(BundleImport.MANIFEST, TestBundles.manifest(key, release(), 1).toByteArray());
        assertRefused(TestBundles.writeEntries(dir.resolve("reordered.tar"), reordered), Reason.MALFORMED);
        Files.write(dir.resolve("junk.tar"), bytes(4, 3000));
        assertRefused(dir.resolve("junk.tar"), Reason.MALFORMED);
    }

    @Test
    void aFullDiskRefusesTheImport() throws Exception {
        ArtifactCache full = new ArtifactCache(dir.resolve("cache"), null, 0, Duration.ZERO, d -> 1000);
        assertThatThrownBy(() -> importer(full).importFile(goodBundle()))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.DISK_FULL));
        assertThat(cacheFiles()).isEmpty();
    }

    private void assertRefused(Path bundle, Reason reason) throws IOException {
        assertThatThrownBy(() -> importer(cache()).importFile(bundle))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).as(e.getMessage()).isEqualTo(reason));
        assertThat(cacheFiles()).as("nothing left in the cache").isEmpty();
    }

    @Test
    void mutatedBundlesAreRefusedOrImportTheExactSignedArchiveNeverAnythingElse() throws Exception {
        byte[] good = Files.readAllBytes(goodBundle());
        Random random = new Random(20261123L);
        String base = TestBundles.digest(arm64).replace(':', '-');
        int imported = 0;
        for (int i = 0; i < 1_000; i++) {
            byte[] b = good.clone();
            int mutations = 1 + random.nextInt(4);
            for (int m = 0; m < mutations; m++) {
                int at = random.nextInt(b.length);
                switch (random.nextInt(4)) {
                    case 0 -> b[at] ^= (byte) (1 << random.nextInt(8));
                    case 1 -> b[at] = (byte) random.nextInt(256);
                    case 2 -> b = Arrays.copyOf(b, at); // cut short, as a USB stick pulled too early
                    default -> b[random.nextInt(Math.min(b.length, 2048))] = (byte) random.nextInt(256); // headers and manifest
                }
                if (b.length == 0) {
                    break;
                }
            }
            Path file = dir.resolve("mutated.tar");
            Files.write(file, b);
            try {
                importer(cache()).importFile(file);
                imported++;
            } catch (UpdateFailure refused) {
                assertThat(refused.reason()).isNotNull();
            } catch (RuntimeException e) {
                throw new AssertionError("mutation " + i + " threw " + e, e);
            }
            Path cached = dir.resolve("cache").resolve(base + ".tar");
            if (Files.exists(cached)) {
                assertThat(Files.readAllBytes(cached)).as("mutation %d", i).isEqualTo(arm64);
            }
            assertThat(cacheFiles()).as("mutation %d", i).allMatch(f -> f.equals(base + ".tar") || f.equals(base + ".imported"));
        }
        System.out.printf("bundle fuzz: 1000 mutated bundles, %d imported the exact archive, the rest refused%n", imported);
    }
}
