package dev.turnout.edge.store;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.turnout.edge.domain.AppRecord;
import dev.turnout.proto.rules.TrustMark;
import dev.turnout.edge.port.StateStore;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.UpdateState;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.Optional;

/**
 * JSON files under {@code {data}/state}: {@code trust.json} (with the rollback floors per app) and {@code apps/{app}.json}. Enums are stored
 * by name, releases as Base64 of their protobuf bytes.
 */
public final class FileStateStore implements StateStore {

    private final Path trustFile;
    private final Path appsDir;
    private final Path keysFile;
    private final ObjectMapper json = new ObjectMapper();

    public FileStateStore(Path stateDir) {
        this.trustFile = stateDir.resolve("trust.json");
        this.appsDir = stateDir.resolve("apps");
        this.keysFile = stateDir.resolve("trusted-keys.json");
    }

    @Override
    public synchronized TrustMark loadTrust() {
        if (!Files.exists(trustFile)) {
            return TrustMark.NONE;
        }
        JsonNode node = read(trustFile);
        Map<String, String> floors = new TreeMap<>();
        node.path("versionFloors").fields().forEachRemaining(f -> floors.put(f.getKey(), f.getValue().asText()));
        return new TrustMark(node.path("lastSequence").asLong(), node.path("timeFloorMs").asLong(), floors);
    }

    @Override
    public synchronized void saveTrust(TrustMark mark) {
        ObjectNode node = json.createObjectNode().put("lastSequence", mark.lastSequence()).put("timeFloorMs", mark.timeFloorMs());
        if (!mark.versionFloors().isEmpty()) { // absent in files of older daemons: no floors
            ObjectNode floors = node.putObject("versionFloors");
            new TreeMap<>(mark.versionFloors()).forEach(floors::put);
        }
        AtomicFiles.write(trustFile, bytes(node));
    }

    @Override
    public synchronized Optional<AppRecord> loadApp(String app) {
        Path file = appFile(app);
        return Files.exists(file) ? Optional.of(toRecord(read(file))) : Optional.empty();
    }

    @Override
    public synchronized List<AppRecord> loadApps() {
        List<AppRecord> records = new ArrayList<>();
        if (!Files.isDirectory(appsDir)) {
            return records;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(appsDir, "*.json")) {
            for (Path file : files) {
                records.add(toRecord(read(file)));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        records.sort(Comparator.comparing(AppRecord::app));
        return records;
    }

    @Override
    public synchronized void saveApp(AppRecord r) {
        ObjectNode node = json.createObjectNode()
                .put("app", r.app())
                .put("state", r.state().name())
                .put("target", r.target() == null ? null : base64(r.target().toByteArray()))
                .put("running", r.running() == null ? null : base64(r.running().toByteArray()))
                .put("previous", r.previous() == null ? null : base64(r.previous().toByteArray()))
                .put("sequence", r.sequence())
                .put("rolloutId", r.rolloutId())
                .put("containerId", r.containerId())
                .put("previousContainerId", r.previousContainerId())
                .put("newContainerId", r.newContainerId())
                .put("reason", r.reason().name())
                .put("message", r.message())
                .put("failedAttempts", r.failedAttempts())
                .put("bootId", r.bootId())
                .put("soakStartNanos", r.soakStartNanos())
                .put("lockWaitSinceMs", r.lockWaitSinceMs());
        if (!r.logTail().isEmpty()) { // absent in files of older daemons and for apps that did not fail: none
            node.put("logTail", r.logTail());
        }
        AtomicFiles.write(appFile(r.app()), bytes(node));
    }

    @Override
    public synchronized List<byte[]> loadRotatedKeys() {
        List<byte[]> keys = new ArrayList<>();
        if (Files.exists(keysFile)) {
            read(keysFile).path("keys").forEach(k -> keys.add(unbase64(k.asText())));
        }
        return keys;
    }

    @Override
    public synchronized void saveRotatedKeys(List<byte[]> rawKeys) {
        ObjectNode node = json.createObjectNode();
        rawKeys.forEach(k -> node.withArray("keys").add(base64(k)));
        AtomicFiles.write(keysFile, bytes(node));
    }

    private Path appFile(String app) {
        return appsDir.resolve(app.replaceAll("[^A-Za-z0-9_.-]", "_") + ".json");
    }

    private AppRecord toRecord(JsonNode n) {
        try {
            return new AppRecord(n.path("app").asText(), UpdateState.valueOf(n.path("state").asText("IDLE")),
                    n.hasNonNull("target") ? AppDesired.parseFrom(unbase64(n.get("target").asText())) : null,
                    n.hasNonNull("running") ? Release.parseFrom(unbase64(n.get("running").asText())) : null,
                    n.hasNonNull("previous") ? Release.parseFrom(unbase64(n.get("previous").asText())) : null,
                    n.path("sequence").asLong(), n.path("rolloutId").asText(""), n.path("containerId").asText(""),
                    n.path("previousContainerId").asText(""), n.path("newContainerId").asText(""),
                    Reason.valueOf(n.path("reason").asText("REASON_UNSPECIFIED")), n.path("message").asText(""),
                    n.path("failedAttempts").asInt(0), n.path("bootId").asText(""), n.path("soakStartNanos").asLong(0),
                    n.path("lockWaitSinceMs").asLong(0), n.path("logTail").asText(""));
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("corrupt app state: " + e.getMessage(), e);
        }
    }

    private JsonNode read(Path file) {
        try {
            return json.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private byte[] bytes(JsonNode node) {
        try {
            return json.writerWithDefaultPrettyPrinter().writeValueAsBytes(node);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String base64(byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }

    private static byte[] unbase64(String s) {
        return Base64.getDecoder().decode(s);
    }
}
