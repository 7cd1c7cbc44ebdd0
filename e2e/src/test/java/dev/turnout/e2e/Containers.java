package dev.turnout.e2e;

import java.util.Arrays;
import java.util.List;

/** What `docker ps` on one engine shows about the containers a device's daemon manages. */
final class Containers {

    record Container(String id, String version, String state, String startedAt) {
    }

    private final String dockerHost;

    /** @param dockerHost the engine's address, e.g. {@code unix:///var/run/docker.sock} */
    Containers(String dockerHost) {
        this.dockerHost = dockerHost;
    }

    List<Container> of(String deviceId) {
        String ids = Shell.docker(dockerHost, "ps", "-aq", "--no-trunc", "--filter", "label=dev.turnout.device=" + deviceId);
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
                Shell.docker(dockerHost, "rm", "-f", c.id());
            } catch (IllegalStateException ignored) {
                // already gone
            }
        }
    }

    private Container inspect(String id) {
        String line = Shell.docker(dockerHost, "inspect", "--format",
                "{{index .Config.Labels \"dev.turnout.version\"}}|{{.State.Status}}|{{.State.StartedAt}}", id);
        String[] parts = line.split("\\|", -1);
        return new Container(id, parts[0], parts[1], parts[2]);
    }
}
