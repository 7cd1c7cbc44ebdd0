package dev.turnout.orchestrator.backup;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HexFormat;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A backup of a data directory, verified and restored; damaged, truncated and foreign archives refused before anything is written. */
class BackupArchiveTest {

    private static final Instant NOW = Instant.parse("2026-12-06T06:00:00Z");

    @TempDir
    Path work;
    private Path data;
    private Path backup;
    private String artifactHex;

    @BeforeEach
    void backUpADataDirectory() throws Exception {
        data = Files.createDirectories(work.resolve("data"));
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"));
             Statement s = c.createStatement()) {
            s.execute("PRAGMA journal_mode=WAL");
            s.execute("CREATE TABLE t (v TEXT)");
            s.execute("INSERT INTO t VALUES ('kept')");
            // the row above may be in the WAL only: the snapshot must hold it anyway
            Files.writeString(data.resolve("signing.key"), "key-bytes\n");
            Files.writeString(data.resolve("operator.token"), "token\n");
            Files.createDirectories(data.resolve("tls"));
            Files.writeString(data.resolve("tls/ca.pem"), "-----BEGIN CERTIFICATE-----\n");
            Files.writeString(data.resolve("tls/broker.p12"), "made at every start");
            byte[] artifact = "an image archive".getBytes(StandardCharsets.UTF_8);
            artifactHex = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(artifact));
            Files.createDirectories(data.resolve("artifacts/sha256"));
            Files.write(data.resolve("artifacts/sha256").resolve(artifactHex), artifact);
            Files.createDirectories(data.resolve("broker/data"));
            DataBackup writer = new DataBackup(data, "k-1", BackupManifest.SQLITE, "0.1.0", Clock.fixed(NOW, ZoneOffset.UTC));
            backup = work.resolve("backup.tar.gz");
            BackupManifest m = writer.writeTo(backup, true);
            assertThat(m.files()).extracting(BackupManifest.FileEntry::path).containsExactly("turnout.db", "signing.key",
                    "operator.token", "tls/ca.pem", "artifacts/sha256/" + artifactHex);
        }
        try (Stream<Path> left = Files.list(data)) {
            assertThat(left.map(p -> p.getFileName().toString())).as("no staging left behind").noneMatch(n -> n.startsWith(".backup"));
        }
    }

    @Test
    void restoresEveryFileWithTheServersModesIntoANewDirectory() throws Exception {
        Path target = work.resolve("new/data");
        BackupArchive.Restored r = BackupArchive.restore(backup, target, false, NOW);

        assertThat(r.manifest().signingKeyId()).isEqualTo("k-1");
        assertThat(r.setAside()).isNull();
        assertThat(Files.readString(target.resolve("signing.key"))).isEqualTo("key-bytes\n");
        assertThat(Files.readString(target.resolve("artifacts/sha256").resolve(artifactHex))).isEqualTo("an image archive");
        assertThat(Files.exists(target.resolve("tls/broker.p12"))).isFalse();
        assertThat(Files.exists(target.resolve("broker"))).isFalse();
        for (Map.Entry<String, String> mode : Map.of("signing.key", "rw-------", "operator.token", "rw-------",
                "turnout.db", "rw-------", "tls/ca.pem", "rw-r--r--").entrySet()) {
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(target.resolve(mode.getKey()))))
                    .as(mode.getKey()).isEqualTo(mode.getValue());
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + target.resolve("turnout.db"));
             ResultSet rs = c.createStatement().executeQuery("SELECT v FROM t")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).isEqualTo("kept");
        }
        try (Stream<Path> left = Files.list(target.getParent())) {
            assertThat(left.map(p -> p.getFileName().toString())).containsExactly("data");
        }
    }

    @ParameterizedTest(name = "cut after {0} bytes")
    @ValueSource(ints = {0, 10, 200, 600, -40, -8, -1})
    void aTruncatedBackupIsRefusedAndTheDirectoryIsLeftAsItWas(int keep) throws Exception {
        byte[] whole = Files.readAllBytes(backup);
        int length = keep >= 0 ? Math.min(keep, whole.length - 1) : whole.length + keep;
        Path cut = Files.write(work.resolve("cut.tar.gz"), java.util.Arrays.copyOf(whole, length));
        Path target = Files.createDirectories(work.resolve("empty"));

        assertThatThrownBy(() -> BackupArchive.restore(cut, target, false, NOW)).isInstanceOf(InvalidBackupException.class)
                .hasMessageContaining(cut.toString());
        assertThat(target).isEmptyDirectory();
        assertThat(Files.exists(work.resolve("missing"))).isFalse();
        assertThatThrownBy(() -> BackupArchive.restore(cut, work.resolve("missing"), false, NOW)).isInstanceOf(InvalidBackupException.class);
        assertThat(Files.exists(work.resolve("missing"))).isFalse();
        assertNoStagingLeft();
    }

    @Test
    void aBackupWithAChangedFileIsRefused() throws Exception {
        Map<String, byte[]> files = new java.util.LinkedHashMap<>(BackupArchiveTest.entries(backup));
        files.put("signing.key", "another-key\n".getBytes(StandardCharsets.UTF_8)); // same manifest, other content
        Path forged = rewrite(files);

        assertThatThrownBy(() -> BackupArchive.verify(forged)).isInstanceOf(InvalidBackupException.class)
                .hasMessageContaining("signing.key");
        Path target = work.resolve("fresh");
        assertThatThrownBy(() -> BackupArchive.restore(forged, target, false, NOW)).isInstanceOf(InvalidBackupException.class);
        assertThat(Files.exists(target)).isFalse();
        assertNoStagingLeft();
    }

    @Test
    void aManifestListingAPathOutsideTheLayoutIsRefused() throws Exception {
        Map<String, byte[]> files = new java.util.LinkedHashMap<>(BackupArchiveTest.entries(backup));
        String manifest = new String(files.get("manifest.json"), StandardCharsets.UTF_8).replace("\"operator.token\"", "\"../operator.token\"");
        files.put("manifest.json", manifest.getBytes(StandardCharsets.UTF_8));

        assertThatThrownBy(() -> BackupArchive.verify(rewrite(files))).isInstanceOf(InvalidBackupException.class)
                .hasMessageContaining("'../operator.token', which a backup never holds");
    }

    @Test
    void somethingElseIsNotABackup() throws Exception {
        Path text = Files.writeString(work.resolve("notes.tar.gz"), "hello");
        assertThatThrownBy(() -> BackupArchive.verify(text)).isInstanceOf(InvalidBackupException.class)
                .hasMessageContaining("is not a Turnout backup: it is not a gzip file");
        Path otherTar = rewrite(Map.of("README", "hi".getBytes(StandardCharsets.UTF_8)));
        assertThatThrownBy(() -> BackupArchive.verify(otherTar)).isInstanceOf(InvalidBackupException.class)
                .hasMessageContaining("does not start with manifest.json");
    }

    @Test
    void aNonEmptyDirectoryIsRefusedUnlessForcedAndThenItsContentsAreSetAside() throws Exception {
        Path target = Files.createDirectories(work.resolve("used"));
        Files.writeString(target.resolve("turnout.db"), "old");

        assertThatThrownBy(() -> BackupArchive.restore(backup, target, false, NOW)).hasMessageContaining("is not empty");
        assertThat(Files.readString(target.resolve("turnout.db"))).isEqualTo("old");

        BackupArchive.Restored r = BackupArchive.restore(backup, target, true, NOW);
        assertThat(r.setAside()).isEqualTo(work.resolve("used.replaced-20261206-060000"));
        assertThat(Files.readString(r.setAside().resolve("turnout.db"))).isEqualTo("old");
        assertThat(Files.readString(target.resolve("signing.key"))).isEqualTo("key-bytes\n");
    }

    @Test
    void withoutArtifactsTheManifestSaysSo() throws Exception {
        Path small = work.resolve("small.tar.gz");
        BackupManifest m = new DataBackup(data, "k-1", BackupManifest.SQLITE, "0.1.0", Clock.fixed(NOW, ZoneOffset.UTC))
                .writeTo(small, false);
        assertThat(m.artifactsIncluded()).isFalse();
        assertThat(BackupArchive.verify(small).files()).extracting(BackupManifest.FileEntry::path).noneMatch(p -> p.startsWith("artifacts/"));
    }

    @Test
    void anArtifactDamagedOnDiskStopsTheBackup() throws Exception {
        Files.writeString(data.resolve("artifacts/sha256").resolve(artifactHex), "bit rot");
        DataBackup writer = new DataBackup(data, "k-1", BackupManifest.SQLITE, "0.1.0", Clock.fixed(NOW, ZoneOffset.UTC));
        assertThatThrownBy(() -> writer.writeTo(work.resolve("rotten.tar.gz"), true))
                .hasMessageContaining("artifacts/sha256/" + artifactHex + " changed or is damaged on disk");
    }

    @Test
    void whatACrashedBackupLeftIsRemovedAtStart() throws Exception {
        Files.writeString(Files.createDirectories(data.resolve(".backup-staging-1")).resolve("x"), "x");
        Files.writeString(data.resolve(".backup-2.tar.gz"), "half");
        DataBackup.open(data, "k-1", BackupManifest.SQLITE, "0.1.0", Clock.fixed(NOW, ZoneOffset.UTC));
        try (Stream<Path> left = Files.list(data)) {
            assertThat(left.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(".backup"));
        }
        assertThat(data.resolve("signing.key")).exists();
    }

    private void assertNoStagingLeft() throws IOException {
        try (Stream<Path> left = Files.list(work)) {
            assertThat(left.map(p -> p.getFileName().toString())).noneMatch(n -> n.contains(".restore-"));
        }
    }

    private static Map<String, byte[]> entries(Path archive) throws IOException {
        Map<String, byte[]> files = new java.util.LinkedHashMap<>();
        try (var tar = new org.apache.commons.compress.archivers.tar.TarArchiveInputStream(
                new org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream(Files.newInputStream(archive)))) {
            for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
                files.put(e.getName(), tar.readAllBytes());
            }
        }
        return files;
    }

    private Path rewrite(Map<String, byte[]> files) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(new GzipCompressorOutputStream(bytes))) {
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                TarArchiveEntry e = new TarArchiveEntry(f.getKey());
                e.setSize(f.getValue().length);
                tar.putArchiveEntry(e);
                tar.write(f.getValue());
                tar.closeArchiveEntry();
            }
        }
        return Files.write(Files.createTempFile(work, "forged-", ".tar.gz"), bytes.toByteArray());
    }
}
