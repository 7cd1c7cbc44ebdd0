package dev.turnout.orchestrator.bench;

import dev.turnout.testsupport.DiskUse;
import org.awaitility.core.ConditionTimeoutException;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;

/** Child processes of the benchmarks (the orchestrator, a broker) and what they cost (RSS, live heap). */
final class BenchProcesses {

    private BenchProcesses() {
    }

    /** Memory of a process: resident set, and live Java heap after a full GC (null when not a JVM). */
    record Memory(long rssBytes, Long liveHeapBytes) {
        String describe() {
            return String.format(Locale.ROOT, "RSS %,d MiB%s", rssBytes >> 20,
                    liveHeapBytes == null ? "" : String.format(Locale.ROOT, ", live heap %,d MiB", liveHeapBytes >> 20));
        }
    }

    /** The classpath of this JVM, without test classes (the orchestrator runs as it would in production). */
    static String productionClasspath() {
        List<String> parts = new ArrayList<>();
        for (String p : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            if (!p.endsWith("test-classes") && !p.endsWith("test-classes/")) {
                parts.add(p);
            }
        }
        return String.join(java.io.File.pathSeparator, parts);
    }

    static Path javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java");
    }

    /** Starts {@code java jvmFlags -cp classpath main args}, output to {@code log}. */
    static Process java(List<String> jvmFlags, String classpath, String main, List<String> args, Path log) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(javaBinary().toString());
        command.addAll(jvmFlags);
        command.add("-cp");
        command.add(classpath);
        command.add(main);
        command.addAll(args);
        Files.createDirectories(log.toAbsolutePath().getParent());
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** Waits until {@code url} answers 200, failing with the log's tail when the process dies or time runs out. */
    static void awaitHttp(Process process, String url, Path log, Duration timeout) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        try {
            await().atMost(timeout).pollInterval(Duration.ofMillis(200)).until(() -> {
                if (!process.isAlive()) {
                    throw new IllegalStateException("the process exited (" + process.exitValue() + "): " + tail(log, 30));
                }
                try {
                    return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                            HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
                } catch (IOException notYet) {
                    return false;
                }
            });
        } catch (ConditionTimeoutException e) {
            throw new IllegalStateException(url + " did not answer within " + timeout.toSeconds() + " s: " + tail(log, 30), e);
        }
    }

    static void stop(Process p) throws InterruptedException {
        if (p == null) {
            return;
        }
        p.destroy();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }

    static String tail(Path log, int lines) {
        try {
            List<String> all = Files.readAllLines(log);
            return "\n  " + String.join("\n  ", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** VmRSS of a process, in bytes. */
    static long rss(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IOException("no VmRSS for process " + pid);
    }

    private static final Pattern HISTOGRAM_TOTAL = Pattern.compile("(?m)^Total\\s+(\\d+)\\s+(\\d+)\\s*$");

    /** Live heap of a JVM: {@code jcmd PID GC.class_histogram} runs a full GC first and totals what is left. */
    static long liveHeap(long pid) throws IOException, InterruptedException {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), "GC.class_histogram").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        p.waitFor(60, TimeUnit.SECONDS);
        Matcher m = HISTOGRAM_TOTAL.matcher(out);
        if (!m.find()) {
            throw new IOException("jcmd GC.class_histogram gave no total: " + out.lines().limit(5).toList());
        }
        return Long.parseLong(m.group(2));
    }

    static Memory memory(long pid, boolean jvm) throws IOException, InterruptedException {
        Long heap = jvm ? liveHeap(pid) : null;
        return new Memory(rss(pid), heap);
    }

    /** The soft limit of open files of this process (inherited by its children), or -1 if unknown. */
    static long openFileLimit() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    String soft = line.substring("Max open files".length()).trim().split("\\s+")[0];
                    return soft.equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(soft);
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** Fails with what to do when {@code needed} file descriptors do not fit this process's limit. */
    static void requireOpenFiles(long needed, String why) {
        long limit = openFileLimit();
        if (limit >= 0 && limit < needed) {
            throw new IllegalStateException(String.format(Locale.ROOT,
                    "%s needs about %,d open files in this JVM and in the broker, but the limit is %,d. Raise it in the shell "
                            + "that runs the benchmark (bin/bench does: ulimit -n 65536; as a non-root user, the hard limit in "
                            + "/etc/security/limits.conf may have to be raised first) and run again.", why, needed, limit));
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
        }
    }

    /** Percentile by nearest rank of sorted values. */
    static double percentile(List<Double> sorted, double p) {
        if (sorted.isEmpty()) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p / 100.0 * sorted.size());
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, rank - 1)));
    }

    /** The disk use of a directory sampled every half second on a daemon thread: at start, at its peak and when closed. */
    static final class DiskSampler implements AutoCloseable {
        private final Path dir;
        private final long startKib;
        private volatile long peakKib;
        private volatile boolean running = true;
        private final Thread thread;

        DiskSampler(Path dir) throws IOException, InterruptedException {
            this.dir = dir;
            this.startKib = DiskUse.kib(dir);
            this.peakKib = startKib;
            this.thread = new Thread(() -> {
                while (running) {
                    try {
                        peakKib = Math.max(peakKib, DiskUse.kib(dir));
                        Thread.sleep(500);
                    } catch (InterruptedException e) {
                        return;
                    } catch (IOException e) {
                        // a file removed while du walked: the next sample counts
                    }
                }
            }, "disk-sampler");
            thread.setDaemon(true);
            thread.start();
        }

        /** Stops sampling and describes start, peak and now, in MiB. */
        String describe() throws IOException, InterruptedException {
            close();
            long endKib = DiskUse.kib(dir);
            peakKib = Math.max(peakKib, endKib);
            return String.format(java.util.Locale.ROOT, "at start %.1f MiB, peak %.1f MiB, at the end %.1f MiB",
                    startKib / 1024.0, peakKib / 1024.0, endKib / 1024.0);
        }

        @Override
        public void close() throws InterruptedException {
            running = false;
            thread.interrupt();
            thread.join(5000);
        }
    }
}
