package dev.turnout.orchestrator.cli;

import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.security.Secrets;
import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code turnout device enroll|show|revoke}. */
@Command(name = "device", description = "Enroll a device, show one, change its labels or groups, or revoke its access.",
        subcommands = {DeviceCommand.Enroll.class, DeviceCommand.Show.class, DeviceCommand.Label.class,
                DeviceCommand.Group.class, DeviceCommand.Revoke.class})
final class DeviceCommand {

    @Command(name = "enroll", description = "Register a device and write the config file its edge daemon needs.")
    static final class Enroll implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "ID", description = "Device id: letters, digits, '.', '_' or '-' (no '+', '#', '/').")
        String id;

        @Option(names = "--label", paramLabel = "KEY=VALUE", description = "A label to target the device by (repeatable).")
        Map<String, String> labels = new LinkedHashMap<>();

        @Option(names = "--group", paramLabel = "NAME", description = "A group the device belongs to (repeatable).")
        List<String> groups = new ArrayList<>();

        @Option(names = "--out", paramLabel = "FILE", description = "Write the device config here (default: print it).")
        Path out;

        @Option(names = "--install-command", description = {"Print one line to paste on the device instead of the config: it downloads",
            "and installs the edge package and the config from this orchestrator with a one-time link (docs/install.md)."})
        boolean installCommand;

        @Option(names = "--expires", paramLabel = "DURATION", description = "With --install-command: how long the link works (default: 1h; at most 7d).")
        String expires;

        Enroll(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            if (installCommand) {
                installCommand();
                return;
            }
            if (expires != null) {
                throw new CliException(ExitCodes.USAGE, "--expires goes with --install-command");
            }
            if (out != null) {
                Path dir = out.toAbsolutePath().getParent();
                if (dir == null || !Files.isDirectory(dir) || !Files.isWritable(dir)) {
                    throw new CliException("cannot write " + out + ": " + dir + " is not a writable directory");
                }
                if (Files.isDirectory(out)) {
                    throw new CliException("cannot write " + out + ": it is a directory");
                }
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("id", id);
            body.put("labels", labels);
            body.put("groups", groups);
            JsonNode answer = cli.api().post("/api/v1/devices", body);
            String config = answer.path("config").asText();
            if (out != null) {
                writePrivate(out, config);
            }
            if (cli.jsonOutput()) {
                cli.printJson(answer);
            } else if (out != null) {
                cli.out.printf("enrolled %s; its config is in %s%n", id, out);
                cli.out.printf("on the device: turnout-edge --config %s%n", out.getFileName());
            } else {
                cli.out.print(config);
            }
        }

        /** Enrolls with a one-time install link and prints the line that uses it (stdout), what it does on stderr. */
        private void installCommand() {
            if (out != null) {
                throw new CliException(ExitCodes.USAGE, "--out and --install-command do not go together: the config goes to the device through the link");
            }
            java.time.Duration lifetime;
            try {
                lifetime = expires == null ? java.time.Duration.ofHours(1) : Durations.parse(expires, "--expires");
            } catch (IllegalArgumentException e) {
                throw new CliException(ExitCodes.USAGE, e.getMessage());
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("id", id);
            body.put("labels", labels);
            body.put("groups", groups);
            body.put("install", Map.of("expiresInSeconds", lifetime.toSeconds()));
            JsonNode answer = cli.api().post("/api/v1/devices", body);
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            JsonNode install = answer.path("install");
            cli.err.printf("enrolled %s; paste this line on the device (it works once, until %s):%n", id, install.path("expiresAt").asText());
            cli.err.flush();
            cli.out.println(install.path("command").asText());
        }

        /** Writes atomically, readable by its owner only (the config will hold credentials). */
        private static void writePrivate(Path file, String text) {
            try {
                Secrets.writePrivate(file, text);
            } catch (IOException e) {
                throw new CliException("device enrolled, but writing " + file + " failed: " + e.getMessage()
                        + "; get the config again with `turnout device show --config`");
            }
        }
    }

    @Command(name = "label", description = "Set or remove labels of an enrolled device; targets see them at once.")
    static final class Label implements Runnable {
        private final Cli cli;

        @Parameters(index = "0", paramLabel = "ID")
        String id;

        @Parameters(index = "1..*", arity = "0..*", paramLabel = "KEY=VALUE", description = "A label to set (added, or its value replaced).")
        Map<String, String> set = new LinkedHashMap<>();

        @Option(names = "--remove", paramLabel = "KEY", split = ",", description = "A label to remove (repeatable, or KEY,KEY).")
        List<String> remove = new ArrayList<>();

        Label(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            if (set.isEmpty() && remove.isEmpty()) {
                throw new CliException(ExitCodes.USAGE, "give a label to set (KEY=VALUE) or one to remove (--remove KEY)");
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("set", set);
            body.put("remove", remove);
            JsonNode answer = cli.api().post("/api/v1/devices/" + ApiClient.segment(id) + "/labels", body);
            printRetagged(cli, answer, "labels", DevicesCommand.labels(answer.path("device")));
        }
    }

    @Command(name = "group", description = "Add an enrolled device to groups or take it out of them; targets see it at once.")
    static final class Group implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "ID")
        String id;

        @Option(names = "--add", paramLabel = "GROUP", split = ",", description = "A group to add the device to (repeatable, or G,G).")
        List<String> add = new ArrayList<>();

        @Option(names = "--remove", paramLabel = "GROUP", split = ",", description = "A group to take the device out of (repeatable, or G,G).")
        List<String> remove = new ArrayList<>();

        Group(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            if (add.isEmpty() && remove.isEmpty()) {
                throw new CliException(ExitCodes.USAGE, "give a group to add (--add GROUP) or one to remove (--remove GROUP)");
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("add", add);
            body.put("remove", remove);
            JsonNode answer = cli.api().post("/api/v1/devices/" + ApiClient.segment(id) + "/groups", body);
            printRetagged(cli, answer, "groups", DevicesCommand.join(answer.path("device").path("groups")));
        }
    }

    private static void printRetagged(Cli cli, JsonNode answer, String what, String now) {
        if (cli.jsonOutput()) {
            cli.printJson(answer);
            return;
        }
        String id = answer.path("device").path("id").asText();
        cli.out.printf("%s %s: %s%s%n", id, what, now.isEmpty() ? "-" : now,
                answer.path("changed").asBoolean() ? "" : " (unchanged)");
    }

    @Command(name = "revoke", description = "Remove a device's broker access at once: its connection is dropped, its next connect fails.")
    static final class Revoke implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "ID")
        String id;

        Revoke(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode answer = cli.api().post("/api/v1/devices/" + ApiClient.segment(id) + "/revoke", Map.of());
            if (cli.jsonOutput()) {
                cli.printJson(answer);
            } else if (answer.path("alreadyRevoked").asBoolean()) {
                cli.out.printf("%s was revoked already%n", id);
            } else {
                cli.out.printf("revoked %s: it can no longer connect to the broker%n", id);
            }
        }
    }

    @Command(name = "show", description = "Show one device: labels, presence, and each app's running and desired version.")
    static final class Show implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "ID")
        String id;

        Show(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode device = cli.api().get("/api/v1/devices/" + ApiClient.segment(id));
            if (cli.jsonOutput()) {
                cli.printJson(device);
                return;
            }
            cli.out.printf("device     %s%n", device.path("id").asText());
            cli.out.printf("labels     %s%n", DevicesCommand.labels(device));
            cli.out.printf("groups     %s%n", DevicesCommand.join(device.path("groups")));
            cli.out.printf("online     %s%n", device.path("online").asBoolean() ? "yes" : "no");
            cli.out.printf("last seen  %s%n", DevicesCommand.text(device.path("lastSeen")));
            cli.out.printf("platform   %s%n", DevicesCommand.text(device.path("platform")));
            Table apps = new Table("APP", "RUNNING", "DESIRED", "PHASE", "STATE", "REASON", "UPDATED");
            for (JsonNode a : device.path("apps")) {
                apps.row(a.path("app").asText(), DevicesCommand.text(a.path("runningVersion")), DevicesCommand.text(a.path("desiredVersion")),
                        DevicesCommand.text(a.path("phase")), DevicesCommand.text(a.path("state")), DevicesCommand.text(a.path("reason")),
                        DevicesCommand.text(a.path("updatedAt")));
            }
            if (!apps.isEmpty()) {
                cli.out.println();
                apps.print(cli.out);
            }
            for (JsonNode a : device.path("apps")) {
                String note = a.path("fetchNote").asText("");
                if (!note.isEmpty()) {
                    cli.out.println();
                    cli.out.printf("%s %s: the download fell back: %s%n", a.path("app").asText(), DevicesCommand.text(a.path("state")), note);
                }
            }
            JsonNode history = null;
            for (JsonNode a : device.path("apps")) {
                String app = a.path("app").asText();
                String tail = a.path("logTail").asText("");
                if (!tail.isEmpty()) {
                    cli.out.println();
                    cli.out.printf("%s %s %s at %s; the last lines of its log:%n", app, DevicesCommand.text(a.path("state")),
                            DevicesCommand.text(a.path("reason")), DevicesCommand.text(a.path("updatedAt")));
                    LogText.print(cli.out, "  | ", tail);
                    continue;
                }
                // the app has moved on (a rollout's rollback acknowledged, a drift repaired): its last failure is in the history
                if (history == null) {
                    history = cli.api().get("/api/v1/audit?subject=" + ApiClient.segment(id)).path("entries");
                }
                for (JsonNode e : history) { // newest first
                    String detail = e.path("detail").asText("");
                    if ("device.status".equals(e.path("action").asText()) && detail.startsWith(app + ":")
                            && !e.path("logTail").asText("").isEmpty()) {
                        cli.out.println();
                        cli.out.printf("%s: last failure at %s (%s); the last lines of its log:%n", app, e.path("at").asText(), detail);
                        LogText.print(cli.out, "  | ", e.path("logTail").asText());
                        break;
                    }
                }
            }
        }
    }
}
