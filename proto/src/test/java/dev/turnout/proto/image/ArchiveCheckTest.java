package dev.turnout.proto.image;

import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.testsupport.TestImageArchives;
import dev.turnout.testsupport.TestImageArchives.Built;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * The device's trust rules for an archive, one row per way an archive can differ from what the release signs. Each
 * row starts from the archive the orchestrator ships (a single-platform OCI layout with a manifest.json) and alters
 * it as an attacker, a broken disk or a wrong upload would.
 */
class ArchiveCheckTest {

    private static final Built IMAGE = TestImageArchives.image("linux/amd64", "the signed build", false);
    private static final Built OTHER = TestImageArchives.image("linux/amd64", "another build", false);

    @TempDir
    Path dir;

    record Row(String what, Consumer<Map<String, byte[]>> alter, Reason reason, String says) {
        @Override
        public String toString() {
            return what;
        }
    }

    static List<Row> rows() {
        String config = TestImageArchives.blob(IMAGE.configDigest());
        String layer = TestImageArchives.blob(TestImageArchives.sha256(IMAGE.layers().get(0)));
        return List.of(
                new Row("the archive as shipped", files -> { }, null, null),
                new Row("a tampered layer blob", files -> files.put(layer, OTHER.layers().get(0)),
                        Reason.LAYER_MISMATCH, "was altered"),
                new Row("a layer blob missing", files -> files.remove(layer), Reason.LAYER_MISMATCH, "is missing"),
                new Row("a tampered config blob", files -> files.put(config, OTHER.config()),
                        Reason.IMAGE_ID_MISMATCH, "the release signs " + IMAGE.configDigest()),
                new Row("the index swapped to another manifest", files -> {
                    files.put(TestImageArchives.blob(OTHER.manifestDigest()), OTHER.manifest());
                    replace(files, "index.json", signedManifest(), OTHER.manifestDigest());
                }, Reason.MANIFEST_MISMATCH, "index names manifest " + OTHER.manifestDigest()),
                new Row("the manifest blob tampered", files -> files.put(TestImageArchives.blob(signedManifest()), OTHER.manifest()),
                        Reason.MANIFEST_MISMATCH, "manifest blob was altered"),
                new Row("manifest.json swapped to another config", files -> {
                    files.put(TestImageArchives.blob(OTHER.configDigest()), OTHER.config());
                    replace(files, "manifest.json", TestImageArchives.blob(IMAGE.configDigest()), TestImageArchives.blob(OTHER.configDigest()));
                }, Reason.MANIFEST_MISMATCH, "manifest.json names config"),
                new Row("manifest.json swapped to other layers", files -> {
                    String otherLayer = TestImageArchives.blob(TestImageArchives.sha256(OTHER.layers().get(0)));
                    files.put(otherLayer, OTHER.layers().get(0));
                    replace(files, "manifest.json", layer, otherLayer);
                }, Reason.MANIFEST_MISMATCH, "other layers"),
                new Row("an extra image in the index", files -> {
                    files.put(TestImageArchives.blob(OTHER.manifestDigest()), OTHER.manifest());
                    String index = new String(files.get("index.json"), StandardCharsets.UTF_8);
                    files.put("index.json", index.replace("]}", ",{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\""
                            + OTHER.manifestDigest() + "\",\"size\":" + OTHER.manifest().length + "}]}").getBytes(StandardCharsets.UTF_8));
                }, Reason.EXTRA_IMAGE, "holds 2 images"),
                new Row("an extra image in manifest.json", files -> {
                    String m = new String(files.get("manifest.json"), StandardCharsets.UTF_8);
                    files.put("manifest.json", m.replaceFirst("^\\[(.*)\\]$", "[$1,$1]").getBytes(StandardCharsets.UTF_8));
                }, Reason.EXTRA_IMAGE, "holds 2 images"),
                new Row("no OCI index (a plain docker save)", files -> {
                    files.remove("index.json");
                    files.remove("oci-layout");
                }, Reason.MANIFEST_MISMATCH, "no OCI index"),
                new Row("an index that is not JSON", files -> files.put("index.json", "{".getBytes(StandardCharsets.UTF_8)),
                        Reason.MALFORMED, "not JSON"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void theDeviceAcceptsOnlyTheSignedImage(Row row) throws Exception {
        Map<String, byte[]> files = shipped();
        row.alter().accept(files);
        ArchiveEntries archive = ArchiveEntries.read(TestImageArchives.write(files, dir.resolve("altered.tar")));

        if (row.reason() == null) {
            assertThatCode(() -> ArchiveCheck.verify(archive, signed())).doesNotThrowAnyException();
            return;
        }
        ArchiveCheck.Mismatch mismatch = catchThrowableOfType(ArchiveCheck.Mismatch.class, () -> ArchiveCheck.verify(archive, signed()));
        assertThat(mismatch).as(row.what()).isNotNull();
        assertThat(mismatch.reason()).as(row.what()).isEqualTo(row.reason());
        assertThat(mismatch).hasMessageContaining(row.says());
    }

    private static ImageArtifact signed() {
        return Signed.of(IMAGE.configDigest(), signedManifest(), IMAGE.diffIds());
    }

    /** The digest of the manifest the orchestrator writes for the legacy archive it was given. */
    private static String signedManifest() {
        return SHIPPED.manifestDigest;
    }

    private Map<String, byte[]> shipped() {
        return new LinkedHashMap<>(SHIPPED.files);
    }

    private static void replace(Map<String, byte[]> files, String name, String from, String to) {
        String text = new String(files.get(name), StandardCharsets.UTF_8);
        assertThat(text).contains(from);
        files.put(name, text.replace(from, to).getBytes(StandardCharsets.UTF_8));
    }

    /** The archive the orchestrator makes of a legacy docker save of IMAGE, as files. */
    private static final Shipped SHIPPED = Shipped.make();

    private record Shipped(Map<String, byte[]> files, String manifestDigest) {
        static Shipped make() {
            try {
                Path tmp = Files.createTempDirectory("archive-check");
                Path source = TestImageArchives.write(TestImageArchives.legacy("web:1.0.0", IMAGE), tmp.resolve("legacy.tar"));
                ArchiveEntries entries = ArchiveEntries.read(source);
                ImageArchive.Image image = ImageArchive.images(entries).get(0);
                Path out = tmp.resolve("shipped.tar");
                try (OutputStream o = Files.newOutputStream(out)) {
                    ImageArchive.writeSinglePlatform(source, entries, image, o);
                }
                Map<String, byte[]> files = new LinkedHashMap<>();
                try (InputStream in = Files.newInputStream(out); TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
                    TarArchiveEntry e;
                    while ((e = tar.getNextEntry()) != null) {
                        if (e.isFile()) {
                            files.put(e.getName(), tar.readAllBytes());
                        }
                    }
                }
                return new Shipped(files, ImageArchive.manifestDigest(entries, image));
            } catch (IOException | InvalidImageArchiveException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
