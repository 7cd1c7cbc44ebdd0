package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.Target;
import dev.turnout.orchestrator.mqtt.AsyncMqttSession;
import dev.turnout.orchestrator.observe.ProtoJson;
import dev.turnout.proto.HealthReport;
import dev.turnout.proto.Presence;
import dev.turnout.proto.Reason;
import dev.turnout.proto.RolloutEvent;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.time.Instant;
import java.time.LocalTime;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

/**
 * {@code turnout watch}: subscribes to the fleet's topics as a monitor (read only) and prints status,
 * presence and rollout events as they happen, as text or as JSON lines (the same objects as
 * {@code GET /api/events}), until interrupted.
 */
@Command(name = "watch", description = {"Print the fleet's status, presence and rollout events as they happen (subscribes to the "
        + "MQTT topics as a monitor), until Ctrl-C. With -o json: one JSON object per line, as GET /api/events sends them."})
final class WatchCommand implements Callable<Integer> {

    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");
    private static final DateTimeFormatter UTC_MILLIS = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(java.time.ZoneOffset.UTC);
    private static final long REFRESH_MILLIS = 5_000;

    private final Cli cli;
    private final ObjectMapper compact = new ObjectMapper();

    @Option(names = "--target", defaultValue = "all", paramLabel = "TARGET",
            description = "all | device:ID[,ID...] | group:NAME | label:KEY=VALUE (default: ${DEFAULT-VALUE}).")
    String target;

    @Option(names = "--health", description = "Also print health reports (CPU, memory, disk, temperature).")
    boolean health;

    @Option(names = "--count", paramLabel = "N", description = "Exit after N events (default: run until interrupted).")
    long count;

    @Option(names = "--broker-url", paramLabel = "URL",
            description = "Broker to subscribe to (default: the one the server names in GET /api/v1/server).")
    String brokerUrl;

    @Option(names = "--mqtt-username", paramLabel = "NAME", description = "Broker user name (default: $TURNOUT_MQTT_USERNAME).")
    String username;

    @Option(names = "--mqtt-password-file", paramLabel = "FILE",
            description = "File whose first line is the broker password (default: $TURNOUT_MQTT_PASSWORD). A password is never"
                    + " an argument: it would show in `ps`.")
    java.nio.file.Path passwordFile;

    private Target selection;
    private Topics topics;
    private final Set<String> members = new HashSet<>();
    private final Map<String, Boolean> rollouts = new java.util.HashMap<>();
    private final AtomicLong lastRefresh = new AtomicLong();
    private final AtomicLong printed = new AtomicLong();
    private final CountDownLatch done = new CountDownLatch(1);
    /** Messages that came before the "watching ..." line was printed (guarded by this): printed right after it. */
    private final List<Early> beforeHeader = new ArrayList<>();
    private boolean headerPrinted;
    private final CompletableFuture<Void> firstAttempt = new CompletableFuture<>();
    private volatile boolean connectedOnce;

    WatchCommand(Cli cli) {
        this.cli = cli;
    }

    @Override
    public Integer call() throws Exception {
        try {
            selection = Target.parse(target);
        } catch (InvalidInputException e) {
            throw new CliException(ExitCodes.USAGE, e.getMessage());
        }
        JsonNode server = cli.api().get("/api/v1/server");
        topics = new Topics(server.path("topicPrefix").asText(Topics.DEFAULT_PREFIX));
        String broker = brokerUrl != null ? brokerUrl : server.path("brokerUrl").asText();
        try {
            AsyncMqttSession.parseBrokerUrl(broker);
        } catch (IllegalArgumentException e) {
            throw new CliException(e.getMessage());
        }
        refreshMembers(true);
        String user = username != null ? username : cli.env.get("TURNOUT_MQTT_USERNAME");
        String secret = passwordFile != null ? readPassword(passwordFile) : cli.env.get("TURNOUT_MQTT_PASSWORD");
        String ephemeral = null;
        if (user == null || user.isBlank()) {
            // no monitor identity given: ask the server for one for this session (read-only, revoked when we stop)
            ephemeral = "watch-" + Long.toHexString(System.nanoTime() ^ ProcessHandle.current().pid());
            try {
                JsonNode issued = cli.api().post("/api/v1/users", java.util.Map.of("name", ephemeral, "role", "monitor"));
                user = ephemeral;
                secret = issued.path("password").asText();
            } catch (CliException e) {
                if (e.getMessage() != null && e.getMessage().contains("needs the admin role")) {
                    throw new CliException("turnout watch borrows a monitor identity for the session, which only an admin may"
                            + " make (" + e.getMessage() + "); ask an admin for a monitor user (turnout user add NAME --role monitor)"
                            + " and give it with TURNOUT_MQTT_USERNAME and TURNOUT_MQTT_PASSWORD");
                }
                ephemeral = null; // an open broker, or a server without users: connect without credentials
            }
        }
        String issuedName = ephemeral;
        // a broker with per-client credentials wants client id = user name (docs/security.md); an open one takes any id
        String clientId = user != null && !user.isBlank() ? user
                : "turnout-watch-" + Long.toHexString(System.nanoTime() ^ ProcessHandle.current().pid());
        // an ssl:// broker: pin the CA the server hands its devices (read over the API, itself verified), else the CLI's own
        String caPem = server.path("ca").asText("");
        dev.turnout.proto.tls.PinnedTrust mqttTrust = !caPem.isBlank()
                ? dev.turnout.proto.tls.PinnedTrust.fromPem(caPem, "the CA the server gives its devices") : cli.api().pinnedCa();
        AsyncMqttSession session = AsyncMqttSession.create(new AsyncMqttSession.Settings(clientId, broker, user, secret, true, 0,
                null, null, true, mqttTrust), new AsyncMqttSession.Listener() {
            @Override
            public void onMessage(String topic, byte[] payload) {
                onEvent(topic, payload);
            }

            @Override
            public void onConnected() {
                connectedOnce = true;
            }

            @Override
            public void onDisconnected(String why) {
                if (connectedOnce) {
                    cli.err.println("turnout: lost the broker at " + broker + " (" + why + "); reconnecting");
                } else {
                    firstAttempt.completeExceptionally(new IllegalStateException(why));
                }
            }
        });
        try {
            CompletableFuture.anyOf(session.connect(), firstAttempt).get(15, TimeUnit.SECONDS);
            session.subscribe(filters()).get(15, TimeUnit.SECONDS);
        } catch (Exception e) {
            session.close();
            revokeQuietly(issuedName);
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            if (cause instanceof java.util.concurrent.TimeoutException) {
                cause = new IllegalStateException("no answer within 15 s");
            }
            throw new CliException("cannot subscribe at the broker " + broker + ": "
                    + (cause.getMessage() == null ? cause.toString() : cause.getMessage()) + "; is it reachable from here? (--broker-url)");
        }
        synchronized (this) {
            if (!cli.jsonOutput()) {
                cli.out.printf("watching %s on %s (Ctrl-C stops)%n", target, broker);
                cli.out.flush();
            }
            // retained presences and states can arrive with the subscription's acknowledgement: after the header
            headerPrinted = true;
            beforeHeader.forEach(m -> print(m.topic(), m.payload()));
            beforeHeader.clear();
        }
        Thread hook = new Thread(() -> {
            session.close();
            revokeQuietly(issuedName);
            done.countDown();
        }, "turnout-watch-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            session.close();
            revokeQuietly(issuedName);
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // shutting down already
            }
        }
        return ExitCodes.OK;
    }

    private List<String> filters() {
        List<String> filters = new ArrayList<>();
        if (selection.kind() == Target.Kind.DEVICE) {
            for (String id : selection.values()) {
                filters.add(topics.status(id));
                filters.add(topics.presence(id));
                if (health) {
                    filters.add(topics.health(id));
                }
            }
        } else {
            filters.add(topics.allStatus());
            filters.add(topics.allPresence());
            if (health) {
                filters.add(topics.allHealth());
            }
        }
        filters.add(topics.allRolloutEvents());
        return filters;
    }

    /** Devices a group or label target stands for, re-read from the server now and then (devices enroll). */
    private void refreshMembers(boolean force) {
        if (selection.kind() == Target.Kind.ALL) {
            return;
        }
        if (selection.kind() == Target.Kind.DEVICE) {
            synchronized (members) {
                members.addAll(selection.values());
            }
            return;
        }
        long now = System.currentTimeMillis();
        long last = lastRefresh.get();
        if (!force && (now - last < REFRESH_MILLIS || !lastRefresh.compareAndSet(last, now))) {
            return;
        }
        lastRefresh.set(now);
        Set<String> ids = new HashSet<>();
        for (JsonNode d : cli.api().get("/api/v1/devices").path("devices")) {
            boolean match = switch (selection.kind()) {
                case GROUP -> contains(d.path("groups"), selection.values().get(0));
                case LABEL -> selection.values().get(1).equals(d.path("labels").path(selection.values().get(0)).asText(null));
                default -> true;
            };
            if (match) {
                ids.add(d.path("id").asText());
            }
        }
        synchronized (members) {
            members.clear();
            members.addAll(ids);
        }
    }

    private static boolean contains(JsonNode array, String value) {
        for (JsonNode v : array) {
            if (value.equals(v.asText())) {
                return true;
            }
        }
        return false;
    }

    private boolean selected(String deviceId) {
        if (selection.kind() == Target.Kind.ALL) {
            return true;
        }
        synchronized (members) {
            if (members.contains(deviceId)) {
                return true;
            }
        }
        if (selection.kind() == Target.Kind.DEVICE || deviceId.isEmpty()) {
            return false;
        }
        try {
            refreshMembers(false); // a device enrolled since: it may match now
        } catch (CliException e) {
            return false;
        }
        synchronized (members) {
            return members.contains(deviceId);
        }
    }

    /** Whether a rollout addresses one of the watched devices (asked of the server once per rollout). */
    private boolean concernsSelection(String rolloutId) {
        return rollouts.computeIfAbsent(rolloutId, id -> {
            try {
                for (JsonNode d : cli.api().get("/api/v1/rollouts/" + ApiClient.segment(id)).path("devices")) {
                    if (selected(d.path("id").asText())) {
                        return true;
                    }
                }
                return false;
            } catch (CliException e) {
                return false;
            }
        });
    }

    private synchronized void onEvent(String topic, byte[] payload) {
        if (!headerPrinted) {
            beforeHeader.add(new Early(topic, payload));
            return;
        }
        print(topic, payload);
    }

    private record Early(String topic, byte[] payload) {
    }

    /** Prints one message (under this object's lock). */
    private void print(String topic, byte[] payload) {
        if (done.getCount() == 0) {
            return;
        }
        try {
            Line line = decode(topic, payload);
            if (line == null) {
                return;
            }
            if (cli.jsonOutput()) {
                Map<String, Object> event = new LinkedHashMap<>();
                event.put("kind", line.kind);
                event.put("topic", topic);
                event.put("receivedAt", UTC_MILLIS.format(Instant.now()));
                event.put("payload", line.json);
                cli.out.println(compact.writeValueAsString(event));
            } else {
                cli.out.printf("%s  %-8s  %s%n", LocalTime.now(ZoneId.systemDefault()).format(CLOCK), line.kind, line.text);
            }
            cli.out.flush();
            if (count > 0 && printed.incrementAndGet() >= count) {
                done.countDown();
            }
        } catch (InvalidProtocolBufferException e) {
            cli.err.println("turnout: a message on " + topic + " is not what the topic should carry; skipped");
        } catch (Exception e) {
            cli.err.println("turnout: cannot print a message from " + topic + ": " + e.getMessage());
        }
    }

    private record Line(String kind, Map<String, Object> json, String text) {
    }

    private Line decode(String topic, byte[] payload) throws InvalidProtocolBufferException {
        if (topic.startsWith(topics.prefix() + "/rollouts/")) {
            RolloutEvent e = RolloutEvent.parseFrom(payload);
            if (selection.kind() != Target.Kind.ALL && !(e.getDeviceId().isEmpty() ? concernsSelection(e.getRolloutId())
                    : selected(e.getDeviceId()))) {
                return null;
            }
            Map<String, Object> json = ProtoJson.rollout(e);
            StringBuilder text = new StringBuilder().append(e.getRolloutId()).append("  ").append(e.getApp()).append(' ')
                    .append(e.getVersion()).append(' ').append(e.getType().name());
            if (e.getWave() > 0) {
                text.append(" wave ").append(e.getWave());
            }
            if (!e.getDeviceId().isEmpty()) {
                text.append(' ').append(e.getDeviceId());
            }
            text.append(' ').append(json.get("state"));
            if (!e.getMessage().isEmpty()) {
                text.append(" — ").append(e.getMessage());
            }
            return new Line("rollout", json, text.toString());
        }
        String deviceId = topics.deviceIdOf(topic).orElse("");
        String kind = topics.kindOf(topic).orElse("");
        if (!selected(deviceId)) {
            return null;
        }
        switch (kind) {
            case "status" -> {
                StatusEvent e = StatusEvent.parseFrom(payload);
                StringBuilder text = new StringBuilder().append(deviceId).append("  ").append(e.getApp()).append(' ')
                        .append(e.getVersion()).append(' ').append(e.getState().name());
                if (e.getReason() != Reason.REASON_UNSPECIFIED) {
                    text.append(" (").append(e.getReason().name()).append(e.getMessage().isEmpty() ? "" : ": " + e.getMessage()).append(')');
                } else if (!e.getMessage().isEmpty()) {
                    text.append(" (").append(e.getMessage()).append(')');
                }
                if (!e.getRunningVersion().isEmpty()) {
                    text.append(", running ").append(e.getRunningVersion());
                }
                return new Line("status", ProtoJson.status(e), text.toString());
            }
            case "presence" -> {
                Presence p = Presence.parseFrom(payload);
                String apps = p.getAppsList().stream().map(a -> a.getApp() + " " + a.getRunningVersion())
                        .collect(Collectors.joining(", "));
                String text = deviceId + "  " + (p.getOnline() ? "online" : "offline")
                        + (p.getPlatform().isEmpty() ? "" : "  " + p.getPlatform()) + (apps.isEmpty() ? "" : "  " + apps);
                return new Line("presence", ProtoJson.presence(p), text);
            }
            case "health" -> {
                HealthReport h = HealthReport.parseFrom(payload);
                String text = String.format("%s  cpu %.0f%%  memory %d/%d MiB  disk free %d MiB%s", deviceId, h.getCpuPercent(),
                        h.getMemoryUsedBytes() >> 20, h.getMemoryTotalBytes() >> 20, h.getDiskFreeBytes() >> 20,
                        h.hasTemperatureCelsius() ? String.format("  %.1f °C", h.getTemperatureCelsius()) : "");
                return new Line("health", ProtoJson.health(h), text);
            }
            default -> {
                return null;
            }
        }
    }

    /** Withdraws the monitor identity this session asked for; a watcher that dies leaves one that `user revoke` removes. */
    private void revokeQuietly(String name) {
        if (name == null) {
            return;
        }
        boolean interrupted = Thread.interrupted(); // stopped by an interrupt: the HTTP call must still go out
        try {
            cli.api().post("/api/v1/users/" + ApiClient.segment(name) + "/revoke", java.util.Map.of());
        } catch (CliException e) {
            // best effort: the server may be gone already
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static String readPassword(java.nio.file.Path file) {
        try {
            String first = dev.turnout.orchestrator.security.Secrets.firstLine(file);
            if (first.isEmpty()) {
                throw new CliException(ExitCodes.USAGE, "--mqtt-password-file " + file + " is empty");
            }
            return first;
        } catch (java.io.IOException e) {
            throw new CliException(ExitCodes.USAGE, "cannot read --mqtt-password-file " + file + ": " + e.getMessage());
        }
    }
}
