package dev.turnout.orchestrator.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code turnout agent release} names what is wrong with its arguments before anything goes to a server (none runs here). */
class AgentCommandTest {

    @TempDir
    Path dir;

    private record Result(int code, String out, String err) {
    }

    private static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                Map.of("TURNOUT_SERVER", "http://127.0.0.1:9", "TURNOUT_TOKEN", "t"), args);
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aVersionThatIsNoneIsAUsageError() throws Exception {
        Path file = Files.writeString(dir.resolve("edge.tar.gz"), "x");
        Result r = run("agent", "release", "latest", file.toString());
        assertThat(r.code()).isEqualTo(ExitCodes.USAGE);
        assertThat(r.err()).contains("'latest' is not a semantic version");
    }

    @Test
    void aFileThatIsNoDistributionIsRefusedBeforeTheUpload() throws Exception {
        Path file = Files.writeString(dir.resolve("edge.tar.gz"), "a jar, someone thought");
        Result r = run("agent", "release", "0.2.0", file.toString());
        assertThat(r.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(r.err()).contains("is not an edge daemon distribution", "not gzip-compressed");
        assertThat(r.out()).doesNotContain("uploading");
        Result missing = run("agent", "release", "0.2.0", dir.resolve("nowhere.tar.gz").toString());
        assertThat(missing.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(missing.err()).contains("is not a readable file");
    }

    @Test
    void deployTakesTheOptionsOfDeploy() {
        Result r = run("agent", "deploy", "--help");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("--target", "--waves", "--on-failure", "--wait", "--canary");
    }
}
