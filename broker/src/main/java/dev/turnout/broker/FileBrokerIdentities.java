package dev.turnout.broker;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * {@link BrokerIdentities} from a file, for a HiveMQ that runs outside the orchestrator: one
 * identity per line, {@code NAME ROLE HASH} (a {@link PasswordHash}: {@code $argon2id$…} or {@code $hmac-sha256$…}) ({@code ROLE}: {@code device},
 * {@code orchestrator}, {@code monitor}); {@code #} starts a comment. The orchestrator writes it
 * ({@code turnout server --hivemq-identities FILE}). The file is reread when it changes, checked
 * at most once per {@code recheckMillis}; a file that cannot be read or parsed denies everyone
 * (deny by default) until it is fixed.
 */
public final class FileBrokerIdentities implements BrokerIdentities {

    private static final Logger LOG = LoggerFactory.getLogger(FileBrokerIdentities.class);

    private record Entry(Role role, String hash) {
    }

    private final Path file;
    private final long recheckMillis;
    private volatile Map<String, Entry> entries = Map.of();
    private volatile FileTime loadedAt;
    private volatile long checkedAt;

    public FileBrokerIdentities(Path file, long recheckMillis) {
        this.file = file;
        this.recheckMillis = recheckMillis;
        reloadIfChanged(true);
    }

    @Override
    public Optional<Role> authenticate(String username, byte[] password) {
        reloadIfChanged(false);
        Entry entry = username == null ? null : entries.get(username);
        if (entry == null || password == null) {
            return Optional.empty();
        }
        return PasswordHash.verify(new String(password, StandardCharsets.UTF_8), entry.hash())
                ? Optional.of(entry.role()) : Optional.empty();
    }

    @Override
    public boolean isActive(String username) {
        reloadIfChanged(false);
        return entries.containsKey(username);
    }

    /** The names currently in the file. */
    public Set<String> names() {
        reloadIfChanged(false);
        return entries.keySet();
    }

    /** Rereads the file if it changed; returns the names that disappeared (revoked). */
    public synchronized Set<String> reloadIfChanged(boolean force) {
        long now = System.currentTimeMillis();
        if (!force && now - checkedAt < recheckMillis) {
            return Set.of();
        }
        checkedAt = now;
        Map<String, Entry> before = entries;
        try {
            FileTime modified = Files.getLastModifiedTime(file);
            if (!force && modified.equals(loadedAt)) {
                return Set.of();
            }
            entries = parse(Files.readAllLines(file, StandardCharsets.UTF_8));
            loadedAt = modified;
        } catch (IOException | IllegalArgumentException e) {
            LOG.error("cannot read broker identities from {}: {}; denying everyone until it is fixed", file, e.getMessage());
            entries = Map.of();
            loadedAt = null;
        }
        Set<String> gone = new java.util.HashSet<>(before.keySet());
        gone.removeAll(entries.keySet());
        return gone;
    }

    private static Map<String, Entry> parse(java.util.List<String> lines) {
        Map<String, Entry> parsed = new HashMap<>();
        int number = 0;
        for (String line : lines) {
            number++;
            String trimmed = line.strip();
            if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                continue;
            }
            String[] parts = trimmed.split("\\s+");
            if (parts.length != 3 || !dev.turnout.proto.Topics.isValidId(parts[0]) || !PasswordHash.isKnownForm(parts[2])) {
                throw new IllegalArgumentException("line " + number + " is not 'NAME ROLE HASH' (HASH: $argon2id$… or $hmac-sha256$…)");
            }
            Role role = Role.valueOf(parts[1].toUpperCase(Locale.ROOT));
            if (parsed.put(parts[0], new Entry(role, parts[2])) != null) {
                throw new IllegalArgumentException("line " + number + ": " + parts[0] + " is listed twice");
            }
        }
        return Map.copyOf(parsed);
    }
}
