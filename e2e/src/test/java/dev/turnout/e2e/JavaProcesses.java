package dev.turnout.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Programs of this project started as their own JVM, on this JVM's classpath, as the packaged jars would run them. */
final class JavaProcesses {

    private JavaProcesses() {
    }

    /** {@code java FLAGS -cp (this JVM's classpath without test classes) MAIN ARGS}, output appended to {@code log}. */
    static Process start(List<String> flags, String main, List<String> args, Path log) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(flags);
        command.add("-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"));
        command.add("-Dorg.bouncycastle.pkcs8.v1_info_only=true");
        List<String> cp = new ArrayList<>();
        for (String p : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            if (!p.endsWith("test-classes") && !p.endsWith("test-classes/")) {
                cp.add(p);
            }
        }
        command.add("-cp");
        command.add(String.join(java.io.File.pathSeparator, cp));
        command.add(main);
        command.addAll(args);
        Files.createDirectories(log.toAbsolutePath().getParent());
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }

    /** The last lines of {@code log}, for an error message. */
    static String tail(Path log) {
        try {
            List<String> all = Files.readAllLines(log);
            return "\n  " + String.join("\n  ", all.subList(Math.max(0, all.size() - 30), all.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }
}
