package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.proto.transfer.ByteRate;
import dev.turnout.proto.transfer.DownloadReports;
import picocli.CommandLine.Command;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/** {@code turnout devices}: the fleet, one line per device and app. */
@Command(name = "devices", description = "List devices: id, labels, online, edge daemon version, and each app's version and state.")
final class DevicesCommand implements Runnable {

    private final Cli cli;

    DevicesCommand(Cli cli) {
        this.cli = cli;
    }

    @Override
    public void run() {
        JsonNode answer = cli.api().get("/api/v1/devices");
        if (cli.jsonOutput()) {
            cli.printJson(answer);
            return;
        }
        Table table = new Table("ID", "LABELS", "ONLINE", "AGENT", "APP", "VERSION", "DESIRED", "STATE", "REASON");
        for (JsonNode d : answer.path("devices")) {
            String online = d.path("online").asBoolean() ? "yes" : "no";
            String agent = text(d.path("agentVersion"));
            if (d.path("apps").isEmpty()) {
                table.row(d.path("id").asText(), labels(d), online, agent, null, null, null, null, null);
            }
            for (JsonNode a : d.path("apps")) {
                String progress = download(a.path("download"));
                table.row(d.path("id").asText(), labels(d), online, agent, a.path("app").asText(), text(a.path("runningVersion")),
                        text(a.path("desiredVersion")), text(a.path("state")) + (progress == null ? "" : " " + progress),
                        text(a.path("reason")));
            }
        }
        if (table.isEmpty()) {
            cli.out.println("no devices enrolled yet: turnout device enroll ID --out ID.yaml");
            return;
        }
        table.print(cli.out);
    }

    static String labels(JsonNode device) {
        List<String> parts = new ArrayList<>();
        Iterator<Map.Entry<String, JsonNode>> fields = device.path("labels").fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> f = fields.next();
            parts.add(f.getKey() + "=" + f.getValue().asText());
        }
        return String.join(",", parts);
    }

    /** A running download for people, {@code 12.3/40.0 MiB 480 KiB/s}; null when none runs. */
    static String download(JsonNode download) {
        if (download == null || !download.isObject()) {
            return null;
        }
        return DownloadReports.fraction(download.path("bytesDone").asLong(), download.path("bytesTotal").asLong()) + " "
                + ByteRate.format(download.path("bytesPerSecond").asLong());
    }

    static String join(JsonNode array) {
        List<String> parts = new ArrayList<>();
        array.forEach(n -> parts.add(n.asText()));
        return parts.isEmpty() ? "-" : String.join(",", parts);
    }

    /** The text of a JSON value, "-" when it is missing or null. */
    static String text(JsonNode node) {
        return node == null || node.isMissingNode() || node.isNull() || node.asText().isEmpty() ? "-" : node.asText();
    }
}
