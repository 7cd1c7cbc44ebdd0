package dev.turnout.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 20's "orchestrator disk full", seen by the operator: the orchestrator's data directory (its SQLite store, its
 * keys and blobs) on a small tmpfs the test mounts (root), filled by a file until the disk refuses more. Commands that
 * write are refused with a clear error and change nothing; what was written before stays readable; once the file is
 * gone the same server writes again, and after a restart everything committed is there.
 */
class OrchestratorDiskFullIT {

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final ObjectMapper json = new ObjectMapper();
    private Path data;
    private boolean mounted;
    private TurnoutServer server;
    private final Operator operator = Operator.onServerHost(() -> data, () -> server == null ? null : server.url());

    @AfterEach
    void cleanUp() {
        if (server != null) {
            server.close();
        }
        if (mounted) {
            DockerCli.exitCode("umount", "-l", data.toString());
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void writesAreRefusedWithAClearErrorNothingChangesAndEverythingResumesWhenSpaceReturns() throws Exception {
        data = Files.createDirectories(work.resolve("server"));
        Requirements.require(DockerCli.exitCode("mount", "-t", "tmpfs", "-o", "size=16m", "faults-" + run, data.toString()) == 0,
                "root, to mount a 16 MiB tmpfs (mount -t tmpfs -o size=16m tmpfs DIR)");
        mounted = true;
        server = start();
        String before = "faults-" + run + "-before";
        assertThat(operator.run("device", "enroll", before, "--out", work.resolve(before + ".yaml").toString()).code()).isZero();

        Path filler = data.resolve("filler");
        fill(filler);
        String during = "faults-" + run + "-during";
        Operator.Result refused = operator.run("device", "enroll", during, "--out", work.resolve(during + ".yaml").toString());
        System.out.println("orchestrator disk full: enroll answered " + refused);
        assertThat(refused.code()).as(refused.toString()).isEqualTo(1);
        assertThat(refused.err()).as("the error says the disk is full").contains("the orchestrator's disk is full: nothing was saved");
        assertThat(deviceIds()).as("devices while the disk is full").containsExactly(before);

        // the same command, once there is room again, on the same server
        Files.delete(filler);
        Operator.Result enrolled = operator.run("device", "enroll", during, "--out", work.resolve(during + ".yaml").toString());
        assertThat(enrolled.code()).as(enrolled.toString()).isZero();
        assertThat(deviceIds()).containsExactlyInAnyOrder(before, during);

        server.close();
        server = start();
        assertThat(deviceIds()).as("after a restart").containsExactlyInAnyOrder(before, during);
    }

    private TurnoutServer start() throws Exception {
        return TurnoutServer.start(new ServerOptions(data, 0, Ports.free(), "127.0.0.1", null, "127.0.0.1", Topics.DEFAULT_PREFIX));
    }

    private List<String> deviceIds() throws Exception {
        Operator.Result r = operator.run("devices", "--output", "json");
        assertThat(r.code()).as(r.toString()).isZero();
        JsonNode node = json.readTree(r.out());
        List<String> ids = new ArrayList<>();
        for (JsonNode d : node.has("devices") ? node.get("devices") : node) {
            ids.add(d.path("id").asText());
        }
        return ids;
    }

    /** Writes zeros into {@code file} until the disk refuses more. */
    private static void fill(Path file) throws IOException {
        byte[] block = new byte[64 * 1024];
        try (var out = Files.newOutputStream(file)) {
            while (true) {
                out.write(block);
            }
        } catch (IOException full) {
            assertThat(full.getMessage()).as("the filler stopped on a full disk").containsIgnoringCase("space");
        }
    }
}
