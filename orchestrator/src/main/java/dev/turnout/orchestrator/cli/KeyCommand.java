package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.domain.InvalidInputException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.time.Duration;
import java.util.Map;

/** {@code turnout key list|rotate|activate|retire}: the orchestrator's signing keys (docs/security.md, "Signing-key rotation"). */
@Command(name = "key", description = "The orchestrator's signing keys: list them, rotate to a new one, retire an old one.",
        subcommands = {KeyCommand.ListKeys.class, KeyCommand.Rotate.class, KeyCommand.Activate.class, KeyCommand.Retire.class})
final class KeyCommand {

    static final String KEYS = "/api/v1/keys";

    @Command(name = "list", description = "The keys devices trust (next, active, previous) and how many devices trust each.")
    static final class ListKeys implements Runnable {
        private final Cli cli;

        ListKeys(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            print(cli, cli.api().get(KEYS));
        }
    }

    @Command(name = "rotate", description = {"Announce a new signing key: every device's desired state, still signed by the active key, "
            + "tells it to trust the new key too. Once every device trusts it, `turnout key activate` makes it sign. "
            + "With --activate, waits for that and activates in one go."})
    static final class Rotate implements Runnable {
        private final Cli cli;

        @Option(names = "--activate", description = "Wait until every enrolled device trusts the new key, then activate it.")
        boolean activate;

        @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "10m",
                description = "With --activate: how long to wait for the devices (e.g. 90s, 10m; default ${DEFAULT-VALUE}).")
        String timeout;

        Rotate(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            Duration limit;
            try {
                limit = Durations.parse(timeout, "--timeout");
            } catch (InvalidInputException e) {
                throw new CliException(e.getMessage());
            }
            JsonNode answer = cli.api().post(KEYS + "/rotate", Map.of());
            String next = nextKeyId(answer);
            if (!activate) {
                if (cli.jsonOutput()) {
                    cli.printJson(answer);
                    return;
                }
                cli.out.printf("announced signing key %s; key %s keeps signing until `turnout key activate`%n", next,
                        answer.path("activeKeyId").asText());
                print(cli, answer);
                return;
            }
            long deadline = System.nanoTime() + limit.toNanos();
            JsonNode now = answer;
            while (now.path("notTrustingNextCount").asInt() > 0) {
                if (System.nanoTime() > deadline) {
                    throw new CliException(now.path("notTrustingNextCount").asInt() + " device(s) do not trust key " + next
                            + " after " + timeout + ": " + now.path("notTrustingNext") + ". The key stays announced; run"
                            + " `turnout key activate` once they are online (or --force)");
                }
                sleep();
                now = cli.api().get(KEYS);
            }
            JsonNode activated = cli.api().post(KEYS + "/activate", Map.of());
            if (cli.jsonOutput()) {
                cli.printJson(activated);
                return;
            }
            cli.out.printf("signing key %s is active; every enrolled device trusts it%n", next);
            print(cli, activated);
        }

        private static void sleep() {
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CliException("interrupted");
            }
        }
    }

    @Command(name = "activate", description = {"The announced key signs from now on; the former key stays trusted as a previous key "
            + "(bundles it signed still import) until `turnout key retire`. Refused while an enrolled device does not trust "
            + "the new key, unless --force."})
    static final class Activate implements Runnable {
        private final Cli cli;

        @Option(names = "--force", description = "Activate even though some devices do not trust the new key yet: they refuse "
                + "what it signs (UNKNOWN_KEY) until they are given it.")
        boolean force;

        Activate(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode answer = cli.api().post(KEYS + "/activate", Map.of("force", force));
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            cli.out.printf("signing key %s is active%n", answer.path("activeKeyId").asText());
            print(cli, answer);
        }
    }

    @Command(name = "retire", description = "Devices stop trusting a previous key: bundles it signed no longer import.")
    static final class Retire implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "KEY_ID", description = "The previous key's id (turnout key list).")
        String keyId;

        Retire(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode answer = cli.api().delete(KEYS + "/" + ApiClient.segment(keyId));
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            cli.out.printf("retired key %s: devices stop trusting it with their next desired state%n", keyId);
            print(cli, answer);
        }
    }

    private static String text(JsonNode ids) {
        java.util.List<String> all = new java.util.ArrayList<>();
        ids.forEach(id -> all.add(id.asText()));
        return String.join(", ", all);
    }

    private static String nextKeyId(JsonNode view) {
        for (JsonNode k : view.path("keys")) {
            if ("next".equals(k.path("role").asText())) {
                return k.path("keyId").asText();
            }
        }
        throw new CliException("the server announced no key");
    }

    static void print(Cli cli, JsonNode view) {
        if (cli.jsonOutput()) {
            cli.printJson(view);
            return;
        }
        int devices = view.path("devices").asInt();
        Table table = new Table("KEY ID", "ROLE", "DEVICES TRUSTING");
        for (JsonNode k : view.path("keys")) {
            table.row(k.path("keyId").asText(), k.path("role").asText(), k.path("devicesTrusting").asInt() + "/" + devices);
        }
        table.print(cli.out);
        if (view.path("notTrustingNextCount").asInt() > 0) {
            cli.out.printf("%d device(s) do not trust the announced key yet: %s%n", view.path("notTrustingNextCount").asInt(),
                    text(view.path("notTrustingNext")));
        }
    }
}
