package dev.turnout.e2e;

import java.util.Arrays;
import java.util.List;

/** What `docker ps` shows about the containers a device's daemon manages. */
final class Containers {

    record Container(String id, String version, String state, String startedAt) {
    }

    private Containers() {
    }

    static List<Container> of(String deviceId) {
        String ids = Shell.run("docker", "ps", "-aq", "--no-trunc", "--filter", "label=dev.turnout.device=" + deviceId);
        if (ids.isBlank()) {
            return List.of();
        }
        return Arrays.stream(ids.split("\\s+")).map(Containers::inspect).toList();
    }

    static List<Container> running(String deviceId) {
        return of(deviceId).stream().filter(c -> c.state().equals("running")).toList();
    }

    static void removeAll(String deviceId) {
        for (Container c : of(deviceId)) {
            try {
                Shell.run("docker", "rm", "-f", c.id());
            } catch (IllegalStateException ignored) {
                // already gone
            }
        }
    }

    private static Container inspect(String id) {
        String line = Shell.run("docker", "inspect", "--format",
                "{{index .Config.Labels \"dev.turnout.version\"}}|{{.State.Status}}|{{.State.StartedAt}}", id);
        String[] parts = line.split("\\|", -1);
        return new Container(id, parts[0], parts[1], parts[2]);
    }
}
