package dev.turnout.orchestrator.security;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.assertj.core.api.Assertions.assertThat;

class SecretsTest {

    @TempDir
    Path dir;

    @Test
    void aSecretFileIsCreatedOnceOwnerOnlyAndNeverReplaced() throws Exception {
        Path file = dir.resolve("sub/broker.secret");
        assertThat(Secrets.createSecretFile(file)).isTrue();
        String secret = Secrets.firstLine(file);
        assertThat(secret).hasSize(43);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");

        assertThat(Secrets.createSecretFile(file)).isFalse();
        assertThat(Secrets.firstLine(file)).isEqualTo(secret);
        assertThat(dir.resolve("sub")).isDirectoryNotContaining(p -> p.getFileName().toString().endsWith(".tmp"));
    }

    @Test
    void writePrivateReplacesAFileAtomicallyAndOwnerOnly() throws Exception {
        Path file = dir.resolve("operator.token");
        Files.writeString(file, "old\n");
        Secrets.writePrivate(file, "new\n");
        assertThat(Files.readString(file)).isEqualTo("new\n");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        assertThat(dir).isDirectoryNotContaining(p -> p.getFileName().toString().endsWith(".tmp"));
    }
}
