package dev.turnout.orchestrator.cli;

import dev.turnout.proto.transfer.ByteRate;
import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.Map;
import java.util.concurrent.Callable;

/** {@code turnout rollout list|status|watch|pause|resume|approve|abort}. */
@Command(name = "rollout", description = "Inspect and steer rollouts.",
        subcommands = {RolloutCommand.ListRollouts.class, RolloutCommand.Status.class, RolloutCommand.Watch.class,
                RolloutCommand.Pause.class, RolloutCommand.Resume.class, RolloutCommand.Approve.class, RolloutCommand.Abort.class,
                RolloutCommand.RollBack.class})
final class RolloutCommand {

    @Command(name = "list", description = "List rollouts, newest first.")
    static final class ListRollouts implements Runnable {
        private final Cli cli;

        ListRollouts(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode answer = cli.api().get("/api/v1/rollouts");
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            Table table = new Table("ID", "RELEASE", "TARGET", "STATE", "WAVE", "DEVICES", "CREATED");
            for (JsonNode r : answer.path("rollouts")) {
                table.row(r.path("id").asText(), r.path("app").asText() + ":" + r.path("version").asText(), r.path("target").asText(),
                        r.path("state").asText(), r.path("currentWave").asInt() + "/" + r.path("waves").size(),
                        r.path("devices").size(), r.path("createdAt").asText());
            }
            if (table.isEmpty()) {
                cli.out.println("no rollouts yet: turnout deploy APP:VERSION --target all");
                return;
            }
            table.print(cli.out);
        }
    }

    @Command(name = "status", description = "Show a rollout: state, waves, and every device. Exit code as for `deploy --wait` once it has ended.")
    static final class Status implements Callable<Integer> {
        private final Cli cli;

        @Parameters(paramLabel = "ID")
        String id;

        Status(Cli cli) {
            this.cli = cli;
        }

        @Override
        public Integer call() {
            JsonNode r = cli.api().get("/api/v1/rollouts/" + ApiClient.segment(id));
            if (cli.jsonOutput()) {
                cli.printJson(r);
            } else {
                print(cli, r);
            }
            String state = r.path("state").asText();
            return r.path("terminal").asBoolean() || "PAUSED".equals(state) ? RolloutWatcher.exitCode(r)
                    : ExitCodes.OK;
        }
    }

    static void print(Cli cli, JsonNode r) {
        JsonNode s = r.path("strategy");
        cli.out.printf("rollout   %s%n", r.path("id").asText());
        cli.out.printf("release   %s:%s%n", r.path("app").asText(), r.path("version").asText());
        cli.out.printf("target    %s%n", r.path("target").asText());
        cli.out.printf("state     %s%s%n", r.path("state").asText(),
                r.path("reason").isNull() || r.path("reason").asText().isEmpty() ? "" : " (" + r.path("reason").asText() + ")");
        cli.out.printf("strategy  waves %s, soak %s, max failures %s, on failure %s, device timeout %s%s%n",
                DevicesCommand.join(s.path("waves")), s.path("soak").asText(), s.path("maxFailures").asText(),
                s.path("onFailure").asText(), s.path("deviceTimeout").asText(),
                s.path("approveEachWave").asBoolean() ? ", approve each wave" : "");
        if (s.path("rollback").asBoolean() || s.path("static").asBoolean() || s.path("offlineCountsAsFailure").asBoolean()
                || !s.path("emergency").isNull() && !s.path("emergency").isMissingNode()) {
            cli.out.printf("options   %s%s%s%s%n", s.path("rollback").asBoolean() ? "fleet rollback; " : "",
                    s.path("static").asBoolean() ? "static target; " : "dynamic target; ",
                    s.path("offlineCountsAsFailure").asBoolean() ? "offline counts as failure; " : "",
                    s.path("emergency").isNull() || s.path("emergency").isMissingNode() ? "" : "EMERGENCY: " + s.path("emergency").asText());
        }
        if (s.path("rateLimitBytesPerSecond").asLong() > 0) {
            cli.out.printf("download  at most %s per device%n", s.path("rateLimit").asText());
        }
        long full = r.path("bytes").path("full").asLong();
        if (full > 0) {
            long moved = r.path("bytes").path("moved").asLong();
            cli.out.printf("moved     %s over the network; full archives %s (%s saved by cached and resumed downloads)%n",
                    ByteRate.size(moved), ByteRate.size(full), ByteRate.size(Math.max(0, full - moved)));
        }
        cli.out.printf("created   %s, updated %s%n%n", r.path("createdAt").asText(), r.path("updatedAt").asText());
        Table waves = new Table("WAVE", "STATE", "DEVICES", "STAGED", "ACTIVATING", "ACTIVE", "FAILED", "ROLLED BACK", "CANCELLED", "SKIPPED", "OFFLINE");
        for (JsonNode w : r.path("waves")) {
            JsonNode c = w.path("counts");
            waves.row(w.path("number").asInt() + (w.path("number").asInt() == r.path("currentWave").asInt() ? "*" : ""),
                    w.path("state").asText(), w.path("devices").size(), c.path("staged").asLong(), c.path("activating").asLong(),
                    c.path("active").asLong(), c.path("failed").asLong(),
                    c.path("rolledBack").asLong() + c.path("rollingBack").asLong(), c.path("cancelled").asLong(),
                    c.path("skipped").asLong(), c.path("offline").asLong());
        }
        waves.print(cli.out);
        cli.out.println();
        Table devices = new Table("DEVICE", "WAVE", "STATE", "VERSION", "REASON", "MESSAGE");
        for (JsonNode d : r.path("devices")) {
            String progress = DevicesCommand.download(d.path("download"));
            devices.row(d.path("id").asText(), d.path("wave").asInt(),
                    d.path("state").asText() + (progress == null ? "" : " downloading " + progress), DevicesCommand.text(d.path("version")),
                    DevicesCommand.text(d.path("reason")), DevicesCommand.text(d.path("message")));
        }
        devices.print(cli.out);
    }

    @Command(name = "watch", description = "Follow a rollout live until it ends or pauses; exit code as for `deploy --wait`.")
    static final class Watch implements Callable<Integer> {
        private final Cli cli;

        @Parameters(paramLabel = "ID")
        String id;

        Watch(Cli cli) {
            this.cli = cli;
        }

        @Override
        public Integer call() {
            return new RolloutWatcher(cli, cli.jsonOutput() ? RolloutWatcher.Mode.JSON_LINES : RolloutWatcher.Mode.TEXT).follow(id);
        }
    }

    /** The steering commands: one POST each. */
    abstract static class Action implements Runnable {
        private final Cli cli;
        private final String action;

        @Parameters(paramLabel = "ID")
        String id;

        Action(Cli cli, String action) {
            this.cli = cli;
            this.action = action;
        }

        @Override
        public void run() {
            JsonNode r = cli.api().post("/api/v1/rollouts/" + ApiClient.segment(id) + "/" + action, Map.of());
            if (cli.jsonOutput()) {
                cli.printJson(r);
                return;
            }
            cli.out.printf("rollout %s: %s%n", r.path("id").asText(), RolloutWatcher.summary(r));
        }
    }

    @Command(name = "pause", description = "Stop activating further devices; devices mid-update finish.")
    static final class Pause extends Action {
        Pause(Cli cli) {
            super(cli, "pause");
        }
    }

    @Command(name = "resume", description = "Carry on a paused rollout; failures so far are accepted. A wave that "
            + "settled while paused soaks from when it settled: devices ACTIVE for longer than the soak do not wait again.")
    static final class Resume extends Action {
        Resume(Cli cli) {
            super(cli, "resume");
        }
    }

    @Command(name = "approve", description = "Start the next wave of a rollout that waits for approval.")
    static final class Approve extends Action {
        Approve(Cli cli) {
            super(cli, "approve");
        }
    }

    @Command(name = "rollback", description = "Roll back now: devices it updated go back to the release they last ran "
            + "healthy (signed), the rest are cancelled.")
    static final class RollBack extends Action {
        RollBack(Cli cli) {
            super(cli, "rollback");
        }
    }

    @Command(name = "abort", description = "End a rollout now: no further device is activated; activated devices keep "
            + "what they were told, the others (CANCELLED) go back to their previous release.")
    static final class Abort extends Action {
        Abort(Cli cli) {
            super(cli, "abort");
        }
    }
}
