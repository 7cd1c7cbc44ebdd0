package dev.turnout.orchestrator.http;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.file.AsyncFile;
import io.vertx.core.file.OpenOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

/**
 * Sends part of a file gzip- or zstd-compressed ({@code Content-Encoding: gzip} or {@code zstd}), read and compressed 64 KiB at a time on the
 * event loop (as an HTTP compressor does) and paced by the client: reading pauses while the response's write queue
 * is full. The response has no length (chunked); its status and other headers are set by the caller.
 */
final class GzipBody {

    private static final int CHUNK = 64 * 1024;

    private GzipBody() {
    }

    static Future<Void> send(Vertx vertx, HttpServerResponse response, Path path, long start, long length) {
        return send(vertx, response, path, start, length, "gzip");
    }

    /** As {@link #send(Vertx, HttpServerResponse, Path, long, long)}, in {@code encoding}: {@code gzip} or {@code zstd}. */
    static Future<Void> send(Vertx vertx, HttpServerResponse response, Path path, long start, long length, String encoding) {
        Promise<Void> done = Promise.promise();
        response.setChunked(true).putHeader(HttpHeaders.CONTENT_ENCODING, encoding);
        vertx.fileSystem().open(path.toString(), new OpenOptions().setRead(true).setWrite(false)).onComplete(opened -> {
            if (opened.failed()) {
                response.reset();
                done.fail(opened.cause());
                return;
            }
            AsyncFile file = opened.result();
            file.setReadPos(start).setReadLength(length).setReadBufferSize(CHUNK);
            Compressor gzip = new Compressor(encoding.equals("zstd"));
            AtomicBoolean finished = new AtomicBoolean();
            Runnable release = () -> { // once: at the end, on a read error, or when the client goes away first
                if (finished.compareAndSet(false, true)) {
                    file.close();
                    gzip.release();
                }
            };
            // HTTP/2 (the JDK client's h2c upgrade) reports a stream's close after every response, ended or not
            response.closeHandler(v -> {
                if (finished.get()) {
                    return; // the end of a response sent whole, or of one that failed already
                }
                release.run();
                done.tryFail("the client closed the connection");
            });
            file.exceptionHandler(e -> {
                release.run();
                response.reset();
                done.tryFail(e);
            });
            file.handler(chunk -> {
                if (finished.get()) {
                    return; // read before the client went away
                }
                Buffer out = gzip.compress(chunk.getBytes());
                if (out.length() > 0) {
                    response.write(out);
                }
                if (response.writeQueueFull()) {
                    file.pause();
                    response.drainHandler(v -> file.resume());
                }
            });
            file.endHandler(v -> {
                if (finished.get()) {
                    return;
                }
                Buffer last = gzip.finish();
                release.run();
                response.end(last).onComplete(ended -> {
                    if (ended.succeeded()) {
                        done.tryComplete();
                    } else {
                        done.tryFail(ended.cause());
                    }
                });
            });
        });
        return done.future();
    }

    /** A gzip (or zstd) stream whose output is taken after every input chunk. */
    private static final class Compressor {
        private final ByteArrayOutputStream sink = new ByteArrayOutputStream(CHUNK);
        private final java.io.OutputStream gzip;

        Compressor(boolean zstd) {
            try {
                if (zstd) {
                    // level 3, zstd's default: smaller than gzip's fastest and about as fast; the stream's own checksum on
                    gzip = new com.github.luben.zstd.ZstdOutputStreamNoFinalizer(sink, 3).setChecksum(true);
                    return;
                }
                gzip = new GZIPOutputStream(sink, CHUNK) {
                    {
                        def.setLevel(Deflater.BEST_SPEED); // a Pi's link is the bottleneck, not the ratio's last percent
                    }
                };
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        Buffer compress(byte[] bytes) {
            try {
                gzip.write(bytes);
            } catch (IOException e) {
                throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
            }
            return take();
        }

        Buffer finish() {
            try {
                if (gzip instanceof GZIPOutputStream deflating) {
                    deflating.finish();
                } else {
                    gzip.close(); // zstd: ends the frame
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return take();
        }

        /** Frees the deflater's native memory now rather than at garbage collection. */
        void release() {
            try {
                gzip.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private Buffer take() {
            Buffer out = Buffer.buffer(sink.toByteArray());
            sink.reset();
            return out;
        }
    }
}
