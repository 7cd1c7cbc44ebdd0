package dev.turnout.orchestrator.sim;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * A tiny archive in the {@code docker save} layout (a manifest and an image config, no layers): what a
 * release for simulated devices ships. The orchestrator accepts it like any archive; no engine could run it.
 */
public final class SimulatedImageArchive {

    private SimulatedImageArchive() {
    }

    /** The archive of an empty linux/arm64 image (the simulated devices' default platform) tagged {@code tag}. */
    public static byte[] of(String tag) {
        return of(tag, "linux/arm64");
    }

    /** The archive of an empty image for {@code platform} ("linux/arm/v7") tagged {@code tag} (e.g. {@code turnout-sim/web:1.0.0}). */
    public static byte[] of(String tag, String platform) {
        String[] p = platform.split("/");
        byte[] config = ("{\"architecture\":\"" + p[1] + "\",\"os\":\"" + p[0] + "\"" + (p.length > 2 ? ",\"variant\":\"" + p[2] + "\"" : "")
                + ",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{\"Labels\":{\"dev.turnout.simulated\":\"true\",\"tag\":\""
                + tag + "\"}}}").getBytes(StandardCharsets.UTF_8);
        String hex;
        try {
            hex = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(config));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            entry(tar, hex + ".json", config);
            entry(tar, "manifest.json", ("[{\"Config\":\"" + hex + ".json\",\"RepoTags\":[\"" + tag + "\"],\"Layers\":[]}]")
                    .getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out.toByteArray();
    }

    private static void entry(TarArchiveOutputStream tar, String name, byte[] data) throws IOException {
        TarArchiveEntry e = new TarArchiveEntry(name);
        e.setSize(data.length);
        tar.putArchiveEntry(e);
        tar.write(data);
        tar.closeArchiveEntry();
    }
}
