package dev.turnout.edge.docker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;

/**
 * Reads a {@code docker save} archive without the engine: the image id is the sha256 of the image
 * config that {@code manifest.json} names. Lets the device check the signed image id before loading.
 */
public final class ImageArchive {

    private static final int BLOCK = 512;

    private ImageArchive() {
    }

    /** The image id ("sha256:...") the archive will have after {@code docker load}. */
    public static String imageId(Path archive) throws IOException {
        byte[] manifest = entry(archive, "manifest.json").orElseThrow(() -> new IOException("no manifest.json: not a docker save archive"));
        JsonNode images = new ObjectMapper().readTree(manifest);
        if (!images.isArray() || images.size() != 1 || !images.get(0).hasNonNull("Config")) {
            throw new IOException("manifest.json must describe exactly one image");
        }
        String configName = images.get(0).get("Config").asText();
        byte[] config = entry(archive, configName).orElseThrow(() -> new IOException("image config " + configName + " missing"));
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(config));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Optional<byte[]> entry(Path archive, String wanted) throws IOException {
        String target = normalize(wanted);
        try (FileChannel channel = FileChannel.open(archive, StandardOpenOption.READ)) {
            ByteBuffer header = ByteBuffer.allocate(BLOCK);
            long position = 0;
            String longName = null;
            while (position + BLOCK <= channel.size()) {
                header.clear();
                channel.read(header, position);
                byte[] h = header.array();
                if (isZero(h)) {
                    return Optional.empty();
                }
                long size = parseOctal(h, 124, 12);
                char type = (char) h[156];
                long dataStart = position + BLOCK;
                long next = dataStart + ((size + BLOCK - 1) / BLOCK) * BLOCK;
                if (type == 'L') {
                    longName = new String(read(channel, dataStart, size), StandardCharsets.UTF_8).replace("\0", "");
                    position = next;
                    continue;
                }
                String name = longName != null ? longName : headerName(h);
                longName = null;
                if ((type == '0' || type == '\0') && normalize(name).equals(target)) {
                    if (size > 64L * 1024 * 1024) {
                        throw new IOException(name + " is implausibly large");
                    }
                    return Optional.of(read(channel, dataStart, size));
                }
                position = next;
            }
        }
        return Optional.empty();
    }

    private static byte[] read(FileChannel channel, long position, long size) throws IOException {
        ByteBuffer data = ByteBuffer.allocate((int) size);
        while (data.hasRemaining()) {
            if (channel.read(data, position + data.position()) < 0) {
                throw new IOException("truncated archive");
            }
        }
        return data.array();
    }

    private static String headerName(byte[] h) {
        String name = cString(h, 0, 100);
        String magic = cString(h, 257, 6);
        if (magic.startsWith("ustar")) {
            String prefix = cString(h, 345, 155);
            if (!prefix.isEmpty()) {
                return prefix + "/" + name;
            }
        }
        return name;
    }

    private static String normalize(String name) {
        return name.startsWith("./") ? name.substring(2) : name;
    }

    private static String cString(byte[] b, int offset, int length) {
        int end = offset;
        while (end < offset + length && b[end] != 0) {
            end++;
        }
        return new String(b, offset, end - offset, StandardCharsets.UTF_8);
    }

    private static long parseOctal(byte[] b, int offset, int length) {
        int i = offset;
        int end = offset + length;
        while (i < end && (b[i] == ' ' || b[i] == 0)) {
            i++;
        }
        long value = 0;
        while (i < end && b[i] >= '0' && b[i] <= '7') {
            value = value * 8 + (b[i] - '0');
            i++;
        }
        return value;
    }

    private static boolean isZero(byte[] h) {
        for (byte b : h) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }
}
