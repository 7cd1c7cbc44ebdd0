package dev.turnout.orchestrator.cli;

import dev.turnout.proto.transfer.ByteRate;
import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code turnout deploy}: starts a rollout, and with {@code --wait} follows it to its end. */
@Command(name = "deploy", description = "Roll a release out to devices, in waves.")
final class DeployCommand implements Callable<Integer> {

    private final Cli cli;

    @Parameters(paramLabel = "APP:VERSION", converter = AppVersion.Converter.class)
    AppVersion release;

    @Mixin
    Strategy strategy;

    @Option(names = "--approve-each-wave", description = "Wait for `turnout rollout approve ID` before each wave after the first.")
    boolean approveEachWave;

    @Option(names = "--emergency", paramLabel = "REASON",
            description = "One wave, no soak, no approvals; the reason is recorded in the audit trail.")
    String emergency;

    DeployCommand(Cli cli) {
        this.cli = cli;
    }

    /** The options {@code deploy} and {@code rollback} share. */
    static final class Strategy {
        @Option(names = "--target", required = true, paramLabel = "TARGET",
                description = "all | device:ID[,ID...] | group:NAME | label:KEY=VALUE")
        String target;

        @Option(names = "--waves", paramLabel = "STEPS",
                description = "Cumulative wave sizes, counts or percentages, e.g. 1,50%%,100%% (default: 100%%); "
                        + "each step must be larger than the one before (1,1,100%% is refused).")
        String waves;

        @Option(names = "--soak", paramLabel = "DURATION", description = "How long a finished wave must stay healthy before the next (default: 0s).")
        String soak;

        @Option(names = "--max-failures", paramLabel = "N|P%", description = "Failed devices tolerated before --on-failure applies (default: 0).")
        String maxFailures;

        @Option(names = "--on-failure", paramLabel = "pause|rollback", description = "What to do past --max-failures (default: pause).")
        String onFailure;

        @Option(names = "--device-timeout", paramLabel = "DURATION",
                description = "How long an activated, online device may take to report healthy (default: 10m).")
        String deviceTimeout;

        @Option(names = "--offline-counts-as-failure",
                description = "A device offline when its wave starts counts as failed (default: it is pending and updates when it returns).")
        boolean offlineCountsAsFailure;

        @Option(names = "--static", description = "Only the devices targeted now; devices enrolled later do not join.")
        boolean staticTarget;

        @Option(names = "--canary", paramLabel = "ID[,ID...]",
                description = "These devices go in the first wave (it grows to hold them); each must be among the targeted devices.")
        String canary;

        @Option(names = "--supersede",
                description = "End the app's unfinished rollout on these devices (recorded as superseded) and start this one instead of being refused.")
        boolean supersede;

        @Option(names = "--force", description = "Devices switch without waiting for the app's update lock (a running train"
                + " is stopped).")
        boolean force;

        @Option(names = "--lock-timeout", paramLabel = "DURATION",
                description = "How long a device waits for the app to release its update lock before this update fails there"
                        + " with LOCK_TIMEOUT, the old version still running (default: the device's lockTimeout, 10m).")
        String lockTimeout;

        @Option(names = "--rate-limit", paramLabel = "RATE",
                description = "Devices download this release at most this fast, e.g. 500KiB/s or 2MB/s (units B, KB, KiB, MB, MiB,"
                        + " GB, GiB); a device with a lower download.rateLimit of its own keeps that (default: each device's own).")
        String rateLimit;

        @Option(names = "--dry-run", description = "Print which devices each wave would hit; change nothing.")
        boolean dryRun;

        @Option(names = "--wait", description = "Follow the rollout to its end; exit 0 only if every targeted device ended healthy on this version.")
        boolean waitForEnd;

        Map<String, Object> body(AppVersion release) {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("app", release.app());
            body.put("version", release.version());
            body.put("target", target);
            putIfSet(body, "waves", waves);
            putIfSet(body, "soak", soak);
            putIfSet(body, "maxFailures", maxFailures);
            putIfSet(body, "onFailure", onFailure);
            putIfSet(body, "deviceTimeout", deviceTimeout);
            if (offlineCountsAsFailure) {
                body.put("offlineCountsAsFailure", true);
            }
            if (staticTarget) {
                body.put("static", true);
            }
            if (canary != null) {
                body.put("canary", canary);
            }
            if (supersede) {
                body.put("supersede", true);
            }
            if (force) {
                body.put("force", true);
            }
            putIfSet(body, "lockTimeout", lockTimeout);
            if (rateLimit != null) {
                try { // refused here, before anything is sent: the server checks it the same way
                    ByteRate.parse(rateLimit, "--rate-limit");
                } catch (IllegalArgumentException e) {
                    throw new CliException(ExitCodes.USAGE, e.getMessage());
                }
                body.put("rateLimit", rateLimit.strip());
            }
            if (dryRun) {
                body.put("dryRun", true);
            }
            return body;
        }

        private static void putIfSet(Map<String, Object> body, String key, String value) {
            if (value != null && !value.isBlank()) {
                body.put(key, value);
            }
        }
    }

    @Override
    public Integer call() {
        Map<String, Object> body = strategy.body(release);
        if (approveEachWave) {
            body.put("approveEachWave", true);
        }
        if (emergency != null) {
            body.put("emergency", emergency);
        }
        return start(cli, strategy, release, body, "rolling out");
    }

    /** Creates the rollout, prints its id (or the plan of a dry run), and follows it with {@code --wait}. */
    static int start(Cli cli, Strategy strategy, AppVersion release, Map<String, Object> body, String verb) {
        JsonNode rollout = cli.api().post("/api/v1/rollouts", body);
        if (strategy.dryRun) {
            printPlan(cli, rollout, release, strategy.target);
            return ExitCodes.OK;
        }
        String id = rollout.path("id").asText();
        if (strategy.supersede && !cli.jsonOutput()) {
            noteSuperseded(cli, id);
        }
        if (!strategy.waitForEnd) {
            if (cli.jsonOutput()) {
                cli.printJson(rollout);
            } else {
                cli.out.println(id);
            }
            return ExitCodes.OK;
        }
        if (!cli.jsonOutput()) {
            cli.out.println(id);
            cli.out.printf("%s %s to %s in %d wave(s); follow it elsewhere with `turnout rollout watch %s`%n",
                    verb, release, strategy.target, rollout.path("waves").size(), id);
        }
        RolloutWatcher watcher = new RolloutWatcher(cli, cli.jsonOutput() ? RolloutWatcher.Mode.QUIET : RolloutWatcher.Mode.TEXT);
        int code = watcher.follow(id);
        if (cli.jsonOutput()) {
            cli.printJson(watcher.last());
        }
        return code;
    }

    /** Says on stderr which rollouts {@code id} replaced (stdout keeps the id alone, for scripts). */
    private static void noteSuperseded(Cli cli, String id) {
        String mark = "superseded by rollout " + id + " ";
        for (JsonNode r : cli.api().get("/api/v1/rollouts").path("rollouts")) {
            if (r.path("reason").asText("").startsWith(mark)) {
                cli.err.printf("superseded rollout %s (%s:%s): it ended %s%n", r.path("id").asText(), r.path("app").asText(),
                        r.path("version").asText(), r.path("state").asText());
            }
        }
    }

    private static void printPlan(Cli cli, JsonNode plan, AppVersion release, String target) {
        if (cli.jsonOutput()) {
            cli.printJson(plan);
            return;
        }
        cli.out.printf("dry run: %s to %s would go in %d wave(s); nothing was changed%n", release, target, plan.path("waves").size());
        Table table = new Table("WAVE", "DEVICES", "IDS");
        for (JsonNode w : plan.path("waves")) {
            table.row(w.path("number").asInt(), w.path("devices").size(), DevicesCommand.join(w.path("devices")));
        }
        table.print(cli.out);
    }
}
