package dev.turnout.proto.image;

import dev.turnout.testsupport.TestImageArchives;
import dev.turnout.testsupport.TestImageArchives.Built;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ImageArchiveTest {

    @TempDir
    Path dir;

    private final Built amd64 = TestImageArchives.image("linux/amd64", "amd64 build", false);
    private final Built arm64 = TestImageArchives.image("linux/arm64", "arm64 build", true);
    private final Built armv7 = TestImageArchives.image("linux/arm/v7", "armv7 build", true);

    @Test
    void aLegacyDockerSaveHoldsOneImageKnownByItsConfigDigest() throws Exception {
        List<ImageArchive.Image> images = read(TestImageArchives.legacy("trains/controller:1.4.2", amd64));

        assertThat(images).singleElement().satisfies(image -> {
            assertThat(image.platform()).isEqualTo("linux/amd64");
            assertThat(image.ref()).isEqualTo("trains/controller:1.4.2");
            assertThat(image.configDigest()).isEqualTo(amd64.configDigest());
            assertThat(image.manifestDigest()).as("a legacy archive carries no manifest").isNull();
            assertThat(image.diffIds()).isEqualTo(amd64.diffIds());
        });
    }

    @Test
    void anOciLayoutKeepsItsOwnManifestDigest() throws Exception {
        ImageArchive.Image image = read(TestImageArchives.ociLayout("web:1.0.0", arm64)).get(0);

        assertThat(image.platform()).isEqualTo("linux/arm64");
        assertThat(image.manifestDigest()).isEqualTo(arm64.manifestDigest());
        assertThat(image.configDigest()).isEqualTo(arm64.configDigest());
        assertThat(image.ref()).isEqualTo("web:1.0.0");
    }

    @Test
    void aMultiPlatformArchiveGivesOneImagePerPlatformItHoldsAndSkipsAttestations() throws Exception {
        List<ImageArchive.Image> images = read(TestImageArchives.multiPlatform("trains/controller:2.0.0",
                List.of(amd64, arm64, armv7), List.of("linux/amd64", "linux/arm/v7")));

        assertThat(images).extracting(ImageArchive.Image::platform).containsExactly("linux/amd64", "linux/arm/v7");
        assertThat(images).extracting(ImageArchive.Image::manifestDigest).containsExactly(amd64.manifestDigest(), armv7.manifestDigest());
        assertThat(images).allSatisfy(i -> assertThat(i.ref()).isEqualTo("trains/controller:2.0.0"));
    }

    @Test
    void eachPlatformIsWrittenAsALayoutOfItsOwnThatTheDeviceCheckAccepts() throws Exception {
        Path source = TestImageArchives.write(TestImageArchives.multiPlatform("web:2.0.0", List.of(amd64, arm64), List.of("linux/amd64", "linux/arm64")),
                dir.resolve("multi.tar"));
        ArchiveEntries entries = ArchiveEntries.read(source);
        for (ImageArchive.Image image : ImageArchive.images(entries)) {
            Path part = dir.resolve(image.platform().replace('/', '-') + ".tar");
            try (OutputStream out = Files.newOutputStream(part)) {
                ImageArchive.writeSinglePlatform(source, entries, image, out);
            }
            ArchiveEntries written = ArchiveEntries.read(part);
            ImageArchive.Image again = ImageArchive.images(written).get(0);
            assertThat(ImageArchive.images(written)).hasSize(1);
            assertThat(again.platform()).isEqualTo(image.platform());
            assertThat(again.manifestDigest()).isEqualTo(image.manifestDigest());
            assertThat(again.configDigest()).isEqualTo(image.configDigest());
            Built other = image.platform().equals("linux/amd64") ? arm64 : amd64;
            assertThat(written.names()).as("a device downloads only its own platform")
                    .doesNotContain(TestImageArchives.blob(TestImageArchives.sha256(other.layers().get(0))),
                            TestImageArchives.blob(other.configDigest()));
            ArchiveCheck.verify(written, Signed.of(image.configDigest(), image.manifestDigest(), image.diffIds()));
        }
    }

    @Test
    void aLegacyArchiveGetsAnOciManifestWhoseDigestIsKnownBeforeAnyDeviceLoadsIt() throws Exception {
        Path source = TestImageArchives.write(TestImageArchives.legacy("web:1.0.0", amd64), dir.resolve("legacy.tar"));
        ArchiveEntries entries = ArchiveEntries.read(source);
        ImageArchive.Image image = ImageArchive.images(entries).get(0);
        Path first = dir.resolve("first.tar");
        Path second = dir.resolve("second.tar");
        try (OutputStream a = Files.newOutputStream(first); OutputStream b = Files.newOutputStream(second)) {
            ImageArchive.writeSinglePlatform(source, entries, image, a);
            ImageArchive.writeSinglePlatform(source, entries, image, b);
        }

        assertThat(Files.readAllBytes(first)).as("the same image always gives the same archive").isEqualTo(Files.readAllBytes(second));
        ArchiveEntries written = ArchiveEntries.read(first);
        String manifestDigest = ImageArchive.manifestDigest(entries, image);
        assertThat(ImageArchive.images(written).get(0).manifestDigest()).isEqualTo(manifestDigest);
        String index = new String(written.entry("index.json").orElseThrow().bytes(), StandardCharsets.UTF_8);
        assertThat(index).contains(manifestDigest, "\"io.containerd.image.name\":\"docker.io/library/web:1.0.0\"");
        String dockerManifest = new String(written.entry("manifest.json").orElseThrow().bytes(), StandardCharsets.UTF_8);
        assertThat(dockerManifest).contains("\"Config\":\"" + TestImageArchives.blob(amd64.configDigest()) + "\"", "\"web:1.0.0\"");
    }

    @Test
    void archivesThatAreNotOneUsableImageAreRefusedWithTheReason() throws Exception {
        Map<String, byte[]> twoImages = TestImageArchives.ociLayout("web:1.0.0", amd64);
        Map<String, byte[]> other = TestImageArchives.ociLayout("db:1.0.0", arm64);
        other.forEach((name, bytes) -> {
            if (name.startsWith("blobs/")) {
                twoImages.put(name, bytes);
            }
        });
        String index = new String(twoImages.get("index.json"), StandardCharsets.UTF_8);
        String otherIndex = new String(other.get("index.json"), StandardCharsets.UTF_8);
        twoImages.put("index.json", index.replace("]}", "," + otherIndex.substring(otherIndex.indexOf('[') + 1)).getBytes(StandardCharsets.UTF_8));
        assertRefused(twoImages, "holds 2 images");

        Map<String, byte[]> damaged = TestImageArchives.ociLayout("web:1.0.0", amd64);
        damaged.put(TestImageArchives.blob(amd64.configDigest()), "{\"os\":\"linux\"}".getBytes(StandardCharsets.UTF_8));
        assertRefused(damaged, "is damaged");

        Map<String, byte[]> noConfig = TestImageArchives.legacy("web:1.0.0", amd64);
        noConfig.keySet().removeIf(n -> n.endsWith(".json") && !n.equals("manifest.json"));
        assertRefused(noConfig, "named by manifest.json is missing");

        assertRefused(Map.of("etc/hostname", "pi".getBytes(StandardCharsets.UTF_8)), "neither a manifest.json");
        Path notTar = Files.writeString(dir.resolve("notes.txt"), "not a tar at all, just some words that are long enough ".repeat(20));
        assertThatThrownBy(() -> ImageArchive.images(ArchiveEntries.read(notTar))).isInstanceOf(InvalidImageArchiveException.class);
    }

    private void assertRefused(Map<String, byte[]> files, String why) {
        Path tar = TestImageArchives.write(files, dir.resolve("refused-" + System.nanoTime() + ".tar"));
        assertThatThrownBy(() -> ImageArchive.images(ArchiveEntries.read(tar)))
                .isInstanceOf(InvalidImageArchiveException.class).hasMessageContaining(why);
    }

    private List<ImageArchive.Image> read(Map<String, byte[]> files) throws Exception {
        return ImageArchive.images(ArchiveEntries.read(TestImageArchives.write(files, dir.resolve("a" + System.nanoTime() + ".tar"))));
    }
}
