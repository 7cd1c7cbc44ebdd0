package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import dev.turnout.orchestrator.domain.Durations;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/** {@code turnout app floor APP [VERSION] [--force]} and {@code turnout app remove APP --target T [--wait]}. */
@Command(name = "app", description = "Settings of an app across releases; removing an app from devices.",
        subcommands = {AppCommand.Floor.class, AppCommand.Remove.class})
final class AppCommand {

    @Command(name = "remove", description = "Remove an app from devices: each targeted device that has it gets a signed"
            + " desired state without it, stops and removes its containers and images, and reports REMOVED. It stays"
            + " removed until a release of the app is deployed to the device again.")
    static final class Remove implements Callable<Integer> {
        private static final long POLL_MILLIS = 1000;
        private final Cli cli;

        @Parameters(index = "0", paramLabel = "APP")
        String app;

        @Option(names = "--target", required = true, paramLabel = "TARGET",
                description = "all | device:ID[,ID...] | group:NAME | label:KEY=VALUE")
        String target;

        @Option(names = "--wait", description = "Wait until every targeted online device reports REMOVED; exit 0 only then"
                + " (3: a device failed to remove it; 1: --timeout passed).")
        boolean waitForEnd;

        @Option(names = "--timeout", paramLabel = "DURATION", description = "How long --wait waits (default: 10m).")
        String timeout;

        @Option(names = "--force", description = "Remove it even while the app holds its update lock (a train is running);"
                + " without it a device waits for the lock to be released, at most its lock timeout.")
        boolean force;

        @Option(names = "--lock-timeout", paramLabel = "DURATION", description = "How long a device waits for the app's update"
                + " lock before it gives up (LOCK_TIMEOUT, the app keeps running); default: each device's lockTimeout.")
        String lockTimeout;

        Remove(Cli cli) {
            this.cli = cli;
        }

        @Override
        public Integer call() {
            Duration limit;
            try {
                limit = timeout == null ? Duration.ofMinutes(10) : Durations.parse(timeout, "--timeout");
            } catch (RuntimeException e) {
                throw new CliException(ExitCodes.USAGE, e.getMessage());
            }
            Map<String, JsonNode> before = waitForEnd ? appRows(cli.api().get("/api/v1/devices")) : Map.of();
            Map<String, Object> body = new java.util.LinkedHashMap<>();
            body.put("target", target);
            if (force) {
                body.put("force", true);
            }
            if (lockTimeout != null) {
                body.put("lockTimeout", lockTimeout);
            }
            JsonNode answer = cli.api().post("/api/v1/apps/" + ApiClient.segment(app) + "/remove", body);
            List<String> devices = new ArrayList<>();
            answer.path("devices").forEach(d -> devices.add(d.asText()));
            if (!cli.jsonOutput()) {
                if (devices.isEmpty()) {
                    cli.out.printf("%s is removed from every device of %s already%n", app, target);
                } else {
                    cli.out.printf("removing %s from %d device(s): %s%n", app, devices.size(), String.join(", ", devices));
                }
                if (!answer.path("alreadyRemoved").isEmpty() && !devices.isEmpty()) {
                    cli.out.printf("already removed from %s%n", DevicesCommand.join(answer.path("alreadyRemoved")));
                }
            }
            if (!waitForEnd || devices.isEmpty()) {
                if (cli.jsonOutput()) {
                    cli.printJson(answer);
                }
                return ExitCodes.OK;
            }
            return follow(devices, before, System.nanoTime() + limit.toNanos(), answer);
        }

        /** Polls the devices until each online one reports REMOVED (or a new FAILED), or the time is up. */
        private int follow(List<String> devices, Map<String, JsonNode> before, long deadline, JsonNode answer) {
            Set<String> pending = new LinkedHashSet<>(devices);
            Set<String> failed = new LinkedHashSet<>();
            while (true) {
                JsonNode fleet = cli.api().get("/api/v1/devices");
                Map<String, JsonNode> rows = appRows(fleet);
                Map<String, Boolean> online = online(fleet);
                for (String id : List.copyOf(pending)) {
                    JsonNode row = rows.get(id);
                    String state = row == null ? "" : row.path("state").asText("");
                    JsonNode earlier = before.get(id);
                    boolean fresh = row != null && (earlier == null || !row.path("updatedAt").equals(earlier.path("updatedAt")));
                    if (state.equals("REMOVED")) {
                        pending.remove(id);
                        say("%s REMOVED%s%n", id, message(row));
                    } else if (fresh && state.equals("FAILED")) {
                        pending.remove(id);
                        failed.add(id);
                        say("%s FAILED %s%s%n", id, row.path("reason").asText(""), message(row));
                    } else if (!online.getOrDefault(id, false)) {
                        pending.remove(id);
                        say("%s is offline: it removes %s when it is back%n", id, app);
                    }
                }
                if (pending.isEmpty()) {
                    if (cli.jsonOutput()) {
                        cli.printJson(answer);
                    }
                    return failed.isEmpty() ? ExitCodes.OK : ExitCodes.ROLLOUT_FAILED;
                }
                if (System.nanoTime() > deadline) {
                    throw new CliException(ExitCodes.ERROR, "timed out waiting for " + String.join(", ", pending) + " to report "
                            + app + " REMOVED");
                }
                try {
                    Thread.sleep(POLL_MILLIS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new CliException(ExitCodes.ERROR, "interrupted");
                }
            }
        }

        private void say(String format, Object... args) {
            if (!cli.jsonOutput()) {
                cli.out.printf(format, args);
            }
        }

        private static String message(JsonNode row) {
            String m = row.path("message").asText("");
            return m.isEmpty() || row.path("message").isNull() ? "" : ": " + m;
        }

        /** device id -> its row about the app, as GET /api/v1/devices shows it. */
        private Map<String, JsonNode> appRows(JsonNode fleet) {
            Map<String, JsonNode> rows = new LinkedHashMap<>();
            for (JsonNode d : fleet.path("devices")) {
                for (JsonNode a : d.path("apps")) {
                    if (a.path("app").asText().equals(app)) {
                        rows.put(d.path("id").asText(), a);
                    }
                }
            }
            return rows;
        }

        private static Map<String, Boolean> online(JsonNode fleet) {
            Map<String, Boolean> online = new LinkedHashMap<>();
            for (JsonNode d : fleet.path("devices")) {
                online.put(d.path("id").asText(), d.path("online").asBoolean());
            }
            return online;
        }
    }

    @Command(name = "floor", description = "Show or set an app's rollback floor: devices refuse releases below it, signed"
            + " rollbacks too, and the orchestrator refuses deploys and rollbacks below it.")
    static final class Floor implements Runnable {
        private final Cli cli;

        @Parameters(index = "0", paramLabel = "APP")
        String app;

        @Parameters(index = "1", arity = "0..1", paramLabel = "VERSION",
                description = "The lowest version devices may run from now on (a release that exists); none: show the floor.")
        String version;

        @Option(names = "--force", description = "Lower the floor (it only rises otherwise; devices that saw the higher one"
                + " keep refusing what is below it).")
        boolean force;

        Floor(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            String path = "/api/v1/apps/" + ApiClient.segment(app) + "/floor";
            JsonNode answer;
            if (version == null) {
                if (force) {
                    throw new CliException(ExitCodes.USAGE, "--force goes with a VERSION to set");
                }
                answer = cli.api().get(path);
            } else {
                Map<String, Object> body = new LinkedHashMap<>();
                body.put("version", version);
                if (force) {
                    body.put("force", true);
                }
                answer = cli.api().put(path, body);
            }
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            String floor = answer.path("floor").isNull() ? null : answer.path("floor").asText();
            if (version == null) {
                cli.out.println(floor == null ? app + " has no rollback floor" : app + " rollback floor " + floor);
            } else if (answer.path("changed").asBoolean()) {
                String before = answer.path("previous").isNull() ? "none" : answer.path("previous").asText();
                cli.out.printf("%s rollback floor %s (was %s); devices get it with their next desired state%n", app, floor, before);
            } else {
                cli.out.printf("%s rollback floor %s (unchanged)%n", app, floor);
            }
        }
    }
}
