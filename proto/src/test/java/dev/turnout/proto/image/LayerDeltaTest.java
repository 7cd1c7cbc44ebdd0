package dev.turnout.proto.image;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LayerDeltaTest {

    @TempDir
    Path dir;

    /** 2 MiB of poorly compressible text; the target rewrites 1 % of it in the middle. */
    private Path[] layers() throws IOException {
        Random random = new Random(16);
        byte[] base = new byte[2 << 20];
        for (int i = 0; i < base.length; i++) {
            base[i] = (byte) ('a' + random.nextInt(26));
        }
        byte[] target = base.clone();
        for (int i = base.length / 2; i < base.length / 2 + base.length / 100; i++) {
            target[i] = (byte) ('A' + random.nextInt(26));
        }
        return new Path[] {Files.write(dir.resolve("base"), base), Files.write(dir.resolve("target"), target)};
    }

    @Test
    void aDeltaOfAOnePercentEditIsSmallAndRebuildsTheTargetExactly() throws Exception {
        Path[] layers = layers();
        Path delta = dir.resolve("delta");

        LayerDelta.write(layers[0], layers[1], delta);

        assertThat(Files.size(delta)).isLessThan(Files.size(layers[1]) / 50);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (InputStream in = Files.newInputStream(delta)) {
            assertThat(LayerDelta.apply(layers[0], in, out, Files.size(layers[1]))).isEqualTo(Files.size(layers[1]));
        }
        assertThat(java.util.Arrays.equals(out.toByteArray(), Files.readAllBytes(layers[1]))).isTrue();
    }

    @Test
    void aTamperedDeltaOrAnotherBaseNeverYieldsTheTarget() throws Exception {
        Path[] layers = layers();
        Path delta = dir.resolve("delta");
        LayerDelta.write(layers[0], layers[1], delta);
        byte[] bytes = Files.readAllBytes(delta);
        bytes[bytes.length / 2] ^= 0x40;

        // the frame's checksum catches the flipped byte
        assertThatThrownBy(() -> LayerDelta.apply(layers[0], new java.io.ByteArrayInputStream(bytes), new ByteArrayOutputStream(),
                Files.size(layers[1]))).isInstanceOf(IOException.class);
        // applied to other bytes it fails, or makes something else (the device's digest check refuses that)
        byte[] otherBytes = new byte[(int) Files.size(layers[0])];
        new Random(17).nextBytes(otherBytes);
        Path other = Files.write(dir.resolve("other"), otherBytes);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (InputStream in = Files.newInputStream(delta)) {
            LayerDelta.apply(other, in, out, Files.size(layers[1]));
            assertThat(java.util.Arrays.equals(out.toByteArray(), Files.readAllBytes(layers[1]))).isFalse();
        } catch (IOException refused) {
            assertThat(refused).hasMessageContaining("delta");
        }
        // never more than the signed size
        try (InputStream in = Files.newInputStream(delta)) {
            assertThatThrownBy(() -> LayerDelta.apply(layers[0], in, new ByteArrayOutputStream(), 1000))
                    .hasMessageContaining("more than the signed 1000 bytes");
        }
    }
}
