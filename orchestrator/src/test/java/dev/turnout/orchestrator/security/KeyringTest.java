package dev.turnout.orchestrator.security;

import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The signing keys on disk through a rotation: announce, activate, retire, reload, a crash mid-activation. */
class KeyringTest {

    @TempDir
    Path data;

    @Test
    void beforeAnyRotationOneKeySignsAndNoRotationIsSent() throws Exception {
        Keyring ring = Keyring.open(data);
        assertThat(ring.rotation()).as("desired states carry no KeyRotation").isEmpty();
        assertThat(ring.trusted()).extracting(Keyring.Entry::role).containsExactly(Keyring.Role.ACTIVE);
        assertThat(ring.identityKeyId()).isEqualTo(ring.active().keyId());
        assertThat(Files.getPosixFilePermissions(data.resolve(Keyring.ACTIVE))).isEqualTo(PosixFilePermissions.fromString("rw-------"));
        assertThat(Keyring.open(data).active().keyId()).as("the same key after a restart").isEqualTo(ring.active().keyId());
    }

    @Test
    void aRotationAnnouncesThenActivatesThenRetiresAndSurvivesRestarts() throws Exception {
        Keyring ring = Keyring.open(data);
        SigningKey first = ring.active();

        PublicKey next = ring.rotate();
        assertThat(ring.active().keyId()).as("the old key keeps signing until activation").isEqualTo(first.keyId());
        assertThat(ring.rotation()).containsExactly(next, first.publicKey());
        assertThatThrownBy(ring::rotate).isInstanceOf(IllegalStateException.class).hasMessageContaining("already announced");
        assertThat(Keyring.open(data).next()).contains(next);

        PublicKey former = ring.activate();
        assertThat(former).isEqualTo(first.publicKey());
        assertThat(ring.active().publicKey()).isEqualTo(next);
        assertThat(ring.trusted()).extracting(Keyring.Entry::role).containsExactly(Keyring.Role.ACTIVE, Keyring.Role.PREVIOUS);
        assertThat(ring.identityKeyId()).as("the broker identity keeps the first key's name").isEqualTo(first.keyId());
        assertThat(Files.readString(data.resolve(Keyring.PREVIOUS))).as("only the public half stays")
                .contains(first.publicKey().toBase64()).doesNotContain("PRIVATE");
        assertThat(data.resolve(Keyring.NEXT)).doesNotExist();

        Keyring reloaded = Keyring.open(data);
        assertThat(reloaded.active().publicKey()).isEqualTo(next);
        assertThat(reloaded.rotation()).containsExactly(next, first.publicKey());
        assertThat(reloaded.identityKeyId()).isEqualTo(first.keyId());

        assertThatThrownBy(() -> reloaded.retire(next.keyId())).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("signs now");
        assertThatThrownBy(() -> reloaded.retire("0123456789abcdef")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no previous key");
        reloaded.retire(first.keyId());
        assertThat(reloaded.rotation()).as("still sent: devices must drop the retired key").containsExactly(next);
        assertThat(Keyring.open(data).rotation()).containsExactly(next);
        assertThatThrownBy(reloaded::activate).isInstanceOf(IllegalStateException.class).hasMessageContaining("turnout key rotate");
    }

    @Test
    void anActivationCutOffAfterTheKeyWasReplacedIsCompletedAtTheNextStart() throws Exception {
        Keyring ring = Keyring.open(data);
        SigningKey first = ring.active();
        ring.rotate();
        SigningKey next = SigningKey.load(data.resolve(Keyring.NEXT));
        // as activate() does, up to the crash: previous written, active replaced, next not yet deleted
        Files.writeString(data.resolve(Keyring.PREVIOUS), first.publicKey().toBase64() + "\n");
        next.save(data.resolve(Keyring.ACTIVE));

        Keyring after = Keyring.open(data);
        assertThat(after.active().keyId()).isEqualTo(next.keyId());
        assertThat(after.next()).isEmpty();
        assertThat(data.resolve(Keyring.NEXT)).doesNotExist();
        assertThat(after.rotation()).containsExactly(next.publicKey(), first.publicKey());
    }
}
