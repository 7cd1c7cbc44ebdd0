package dev.turnout.broker;

import org.junit.jupiter.api.Test;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PasswordHashTest {

    private static final String MACHINE_SECRET = "Jx3p0Y0m4kq2Vv8wTqv1S3mX8x0b2n6c9Hh5tGd0fA4";

    @Test
    void aMachineSecretsHashVerifiesOnlyThatSecretAndIsSaltedEachTime() {
        String one = PasswordHash.hashMachineSecret(MACHINE_SECRET);
        assertThat(one).startsWith("$hmac-sha256$v=1$").doesNotContain(MACHINE_SECRET);
        assertThat(PasswordHash.hashMachineSecret(MACHINE_SECRET)).isNotEqualTo(one);
        assertThat(PasswordHash.verify(MACHINE_SECRET, one)).isTrue();
        assertThat(PasswordHash.verify(MACHINE_SECRET.replace('J', 'K'), one)).isFalse();
        assertThat(PasswordHash.verify(MACHINE_SECRET + "x", one)).isFalse();
        assertThat(PasswordHash.isArgon2(one)).isFalse();
    }

    @Test
    void aShortSecretGetsNoFastHashAndNeverMatchesOne() throws Exception {
        assertThatThrownBy(() -> PasswordHash.hashMachineSecret("train-room-2024"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Argon2id");
        // a fast hash made by hand for a short (guessable) password is refused at the check
        byte[] salt = new byte[16];
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(salt, "HmacSHA256"));
        Base64.Encoder b64 = Base64.getEncoder().withoutPadding();
        String handMade = "$hmac-sha256$v=1$" + b64.encodeToString(salt) + "$"
                + b64.encodeToString(mac.doFinal("train-room-2024".getBytes(StandardCharsets.UTF_8)));
        assertThat(PasswordHash.verify("train-room-2024", handMade)).isFalse();
    }

    @Test
    void malformedOrTamperedHashesVerifyNothing() {
        String good = PasswordHash.hashMachineSecret(MACHINE_SECRET);
        String[] parts = good.split("\\$");
        String otherSalt = PasswordHash.hashMachineSecret(MACHINE_SECRET).split("\\$")[3];
        for (String bad : new String[] {
                "", "$hmac-sha256$v=1$", "$hmac-sha256$v=2$" + parts[3] + "$" + parts[4],
                "$hmac-sha256$v=1$" + otherSalt + "$" + parts[4],
                "$hmac-sha256$v=1$" + parts[3] + "$" + parts[4].substring(1),
                good + "$", "$argon2id$garbage", "plain:" + MACHINE_SECRET}) {
            assertThat(PasswordHash.verify(MACHINE_SECRET, bad)).as(bad).isFalse();
        }
        assertThat(PasswordHash.verify(null, good)).isFalse();
        assertThat(PasswordHash.verify(MACHINE_SECRET, null)).isFalse();
    }

    @Test
    void argon2idHashesOfOlderVersionsStillVerifyAndAreRecognised() {
        String argon = PasswordHash.hash(MACHINE_SECRET);
        assertThat(PasswordHash.isArgon2(argon)).isTrue();
        assertThat(PasswordHash.verify(MACHINE_SECRET, argon)).isTrue();
        assertThat(PasswordHash.verify("wrong", argon)).isFalse();
    }
}
