package dev.turnout.e2e;

import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.TestEngines;

import java.util.Arrays;
import java.util.List;

/** What `docker ps` on one engine shows about the containers a device's daemon manages. */
final class Containers {

    record Container(String id, String version, String state, String startedAt) {
    }

    private final TestEngines.Engine engine;

    Containers(TestEngines.Engine engine) {
        this.engine = engine;
    }

    List<Container> of(String deviceId) {
        String ids = DockerCli.docker(engine, "ps", "-aq", "--no-trunc", "--filter", "label=dev.turnout.device=" + deviceId);
        if (ids.isBlank()) {
            return List.of();
        }
        return Arrays.stream(ids.split("\\s+")).map(this::inspect).toList();
    }

    List<Container> running(String deviceId) {
        return of(deviceId).stream().filter(c -> c.state().equals("running")).toList();
    }

    void removeAll(String deviceId) {
        for (Container c : of(deviceId)) {
            try {
                DockerCli.docker(engine, "rm", "-f", c.id());
            } catch (IllegalStateException ignored) {
                // already gone
            }
        }
    }

    private Container inspect(String id) {
        String line = DockerCli.docker(engine, "inspect", "--format",
                "{{index .Config.Labels \"dev.turnout.version\"}}|{{.State.Status}}|{{.State.StartedAt}}", id);
        String[] parts = line.split("\\|", -1);
        return new Container(id, parts[0], parts[1], parts[2]);
    }
}
