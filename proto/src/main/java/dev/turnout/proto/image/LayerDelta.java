package dev.turnout.proto.image;

import com.github.luben.zstd.EndDirective;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDictContentType;
import com.github.luben.zstd.ZstdDictDecompress;
import com.github.luben.zstd.ZstdIOException;
import com.github.luben.zstd.ZstdInputStreamNoFinalizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Binary deltas between two versions of a layer, as {@code zstd --patch-from} makes them: one zstd frame of the new
 * layer compressed with the old one as its raw-content dictionary. The orchestrator {@link #write writes} one per
 * (base, target) pair; a device {@link #apply applies} it to the base it holds and checks the result against the
 * target's signed digest (this class checks nothing but the size).
 *
 * <p>Both sides keep the base out of the Java heap where they can: the device maps it, the orchestrator reads it once
 * (zstd-jni takes a compression dictionary as a byte array) and maps the target. Layers larger than
 * {@link #MAX_LAYER_BYTES} get no delta.
 */
public final class LayerDelta {

    /** Largest base or target a delta is made for: the orchestrator holds the base and zstd's tables in memory. */
    public static final long MAX_LAYER_BYTES = 128L << 20;
    /** Largest window a device accepts in a delta frame (2 GiB: base plus target of the largest layers). */
    private static final int MAX_WINDOW_LOG = 31;
    private static final int LEVEL = 3;

    private LayerDelta() {
    }

    /**
     * Writes the delta that turns {@code base} into {@code target} to {@code out}.
     *
     * @throws IllegalArgumentException when either file is empty or larger than {@link #MAX_LAYER_BYTES}
     */
    public static void write(Path base, Path target, Path out) throws IOException {
        long baseSize = Files.size(base);
        long targetSize = Files.size(target);
        if (baseSize == 0 || targetSize == 0 || baseSize > MAX_LAYER_BYTES || targetSize > MAX_LAYER_BYTES) {
            throw new IllegalArgumentException("deltas are made between layers of 1 byte to " + (MAX_LAYER_BYTES >> 20)
                    + " MiB (base " + baseSize + ", target " + targetSize + ")");
        }
        byte[] dictionary = Files.readAllBytes(base);
        int baseLog = log2Ceil(baseSize);
        // zstd indexes only the last 2^max(hashLog + 3, chainLog + 1) bytes of a dictionary: size the tables to cover
        // the whole base, and the window to reach from the end of the target back to the start of the base
        int hashLog = Math.max(17, baseLog - 2);
        try (ZstdCompressCtx ctx = new ZstdCompressCtx();
             FileChannel in = FileChannel.open(target, StandardOpenOption.READ);
             FileChannel sink = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     StandardOpenOption.TRUNCATE_EXISTING)) {
            ctx.setLevel(LEVEL);
            ctx.setWindowLog(Math.min(MAX_WINDOW_LOG, Math.max(10, log2Ceil(baseSize + targetSize))));
            ctx.setHashLog(hashLog);
            ctx.setChainLog(Math.max(16, hashLog - 1));
            ctx.setChecksum(true);
            ctx.loadDict(dictionary, ZstdDictContentType.RAW_CONTENT);
            ctx.setPledgedSrcSize(targetSize);
            MappedByteBuffer src = in.map(FileChannel.MapMode.READ_ONLY, 0, targetSize);
            ByteBuffer dst = ByteBuffer.allocateDirect(1 << 20);
            boolean done;
            do {
                dst.clear();
                done = ctx.compressDirectByteBufferStream(dst, src, EndDirective.END);
                dst.flip();
                while (dst.hasRemaining()) {
                    sink.write(dst);
                }
            } while (!done);
        }
    }

    /**
     * Writes to {@code out} the layer {@code delta} makes of {@code base}: at most {@code maxBytes} bytes (a longer
     * result fails). A damaged delta, or one made against other bytes, fails here or yields bytes whose digest the
     * caller then refuses.
     *
     * @return the number of bytes written
     */
    public static long apply(Path base, InputStream delta, OutputStream out, long maxBytes) throws IOException {
        long baseSize = Files.size(base);
        if (baseSize == 0 || baseSize > Integer.MAX_VALUE) {
            throw new IOException("base of " + baseSize + " bytes cannot take a delta");
        }
        try (FileChannel channel = FileChannel.open(base, StandardOpenOption.READ)) {
            MappedByteBuffer mapped = channel.map(FileChannel.MapMode.READ_ONLY, 0, baseSize);
            ZstdDictDecompress dictionary = new ZstdDictDecompress(mapped, true, ZstdDictContentType.RAW_CONTENT);
            try (ZstdInputStreamNoFinalizer in = new ZstdInputStreamNoFinalizer(delta)) {
                in.setDict(dictionary);
                in.setLongMax(MAX_WINDOW_LOG);
                byte[] buffer = new byte[64 * 1024];
                long written = 0;
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    if (written + n > maxBytes) {
                        throw new IOException("the delta makes more than the signed " + maxBytes + " bytes");
                    }
                    out.write(buffer, 0, n);
                    written += n;
                }
                return written;
            } catch (ZstdIOException | RuntimeException e) { // a corrupt frame, a checksum that does not match, another base
                throw new IOException("the delta cannot be applied: " + e.getMessage(), e);
            } finally {
                dictionary.close();
            }
        }
    }

    private static int log2Ceil(long n) {
        return 64 - Long.numberOfLeadingZeros(Math.max(1, n - 1));
    }
}
