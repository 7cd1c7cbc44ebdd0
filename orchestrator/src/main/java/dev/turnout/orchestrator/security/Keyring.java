package dev.turnout.orchestrator.security;

import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.proto.crypto.SigningKey;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The orchestrator's signing keys (docs/security.md, "Signing-key rotation"), in its data directory:
 * <ul>
 *   <li>{@value #ACTIVE}: the key that signs desired states and bundle manifests (mode 0600);</li>
 *   <li>{@value #NEXT}: a key announced by {@code turnout key rotate} and not yet signing: every desired
 *       state, still signed by the active key, tells devices to trust it too;</li>
 *   <li>{@value #PREVIOUS}: public keys that signed before ({@code key activate}) and that devices keep
 *       trusting until {@code turnout key retire}, so bundles exported under them still import;
 *       their private halves are deleted at activation;</li>
 *   <li>{@value #IDENTITY}: the id of the first key, written at the first rotation: the orchestrator's
 *       broker user name is derived from it and must not change with the key.</li>
 * </ul>
 * Once a rotation has begun, every desired state carries the whole trusted set as a signed
 * {@code KeyRotation} (next, active, previous), so a device that was offline catches up with the
 * first state it accepts. Each step replaces one file atomically; a crash between two steps of
 * {@link #activate()} is completed at the next load.
 */
public final class Keyring {

    private static final Logger LOG = LoggerFactory.getLogger(Keyring.class);
    public static final String ACTIVE = "signing.key";
    public static final String NEXT = "signing.next.key";
    public static final String PREVIOUS = "signing.previous";
    public static final String IDENTITY = "signing.identity";

    /** A key and the part it plays. */
    public enum Role { NEXT, ACTIVE, PREVIOUS }

    /** One trusted key. */
    public record Entry(PublicKey key, Role role) {
        public String keyId() {
            return key.keyId();
        }
    }

    private final Path dir;
    private SigningKey active;
    private SigningKey next;
    private final List<PublicKey> previous = new ArrayList<>();
    private String identityKeyId;

    private Keyring(Path dir) {
        this.dir = dir;
    }

    /** Loads the keyring in {@code dataDir}, creating the first signing key (mode 0600) if there is none. */
    public static Keyring open(Path dataDir) throws IOException {
        Keyring ring = new Keyring(dataDir);
        ring.load();
        return ring;
    }

    private void load() throws IOException {
        Path activeFile = dir.resolve(ACTIVE);
        boolean existed = Files.exists(activeFile);
        active = SigningKey.loadOrCreate(activeFile);
        if (!existed) {
            restrict(activeFile);
            LOG.info("created a new signing key in {}", activeFile);
        }
        Path nextFile = dir.resolve(NEXT);
        if (Files.exists(nextFile)) {
            next = SigningKey.load(nextFile);
            if (next.keyId().equals(active.keyId())) { // an activation stopped after replacing the active key
                Files.delete(nextFile);
                next = null;
            }
        }
        Path previousFile = dir.resolve(PREVIOUS);
        if (Files.exists(previousFile)) {
            for (String line : Files.readAllLines(previousFile, StandardCharsets.US_ASCII)) {
                String text = line.strip();
                if (!text.isEmpty() && !text.startsWith("#")) {
                    PublicKey key = PublicKey.fromBase64(text);
                    if (!key.keyId().equals(active.keyId()) && !previous.contains(key)) {
                        previous.add(key);
                    }
                }
            }
        }
        Path identityFile = dir.resolve(IDENTITY);
        identityKeyId = Files.exists(identityFile) ? Files.readString(identityFile, StandardCharsets.US_ASCII).strip() : null;
    }

    /** The key that signs now. */
    public synchronized SigningKey active() {
        return active;
    }

    /** The key id the orchestrator's broker identity is named after: the first key's, whatever signs now. */
    public synchronized String identityKeyId() {
        return identityKeyId != null ? identityKeyId : active.keyId();
    }

    /** Every key devices are told to trust, the announced one first: empty before the first rotation. */
    public synchronized List<PublicKey> rotation() {
        if (identityKeyId == null && next == null) {
            return List.of();
        }
        return trusted().stream().map(Entry::key).toList();
    }

    /** Every trusted key and its role: next (if announced), active, then the previous ones. */
    public synchronized List<Entry> trusted() {
        List<Entry> all = new ArrayList<>();
        if (next != null) {
            all.add(new Entry(next.publicKey(), Role.NEXT));
        }
        all.add(new Entry(active.publicKey(), Role.ACTIVE));
        previous.forEach(k -> all.add(new Entry(k, Role.PREVIOUS)));
        return all;
    }

    /** The announced key, if a rotation is under way. */
    public synchronized Optional<PublicKey> next() {
        return Optional.ofNullable(next).map(SigningKey::publicKey);
    }

    /**
     * Generates a new key and announces it: from now on desired states tell devices to trust it, still
     * signed by the active key. Fails if a rotation is already under way.
     */
    public synchronized PublicKey rotate() throws IOException {
        if (next != null) {
            throw new IllegalStateException("key " + next.keyId() + " is already announced: activate it first (turnout key activate)");
        }
        writeIdentity();
        SigningKey fresh = SigningKey.generate();
        fresh.save(dir.resolve(NEXT));
        next = fresh;
        return fresh.publicKey();
    }

    /**
     * The announced key becomes the active one; the former active key stays trusted as a previous key
     * (public half only: its private file is overwritten). Returns the former active key.
     */
    public synchronized PublicKey activate() throws IOException {
        if (next == null) {
            throw new IllegalStateException("no key is announced: start with turnout key rotate");
        }
        PublicKey former = active.publicKey();
        List<PublicKey> keep = new ArrayList<>();
        keep.add(former);
        previous.stream().filter(k -> !k.equals(former)).forEach(keep::add);
        writePrevious(keep);
        next.save(dir.resolve(ACTIVE));
        Files.deleteIfExists(dir.resolve(NEXT));
        previous.clear();
        previous.addAll(keep);
        active = next;
        next = null;
        return former;
    }

    /** Devices stop trusting a previous key (bundles signed by it no longer import). */
    public synchronized void retire(String keyId) throws IOException {
        PublicKey key = previous.stream().filter(k -> k.keyId().equals(keyId)).findFirst().orElseThrow(() ->
                new IllegalArgumentException(keyId.equals(active.keyId()) ? "key " + keyId + " signs now: it cannot be retired"
                        : next != null && keyId.equals(next.keyId()) ? "key " + keyId + " is announced, not previous: activate it, it cannot be retired"
                        : "no previous key " + keyId + " (turnout key list)"));
        List<PublicKey> keep = new ArrayList<>(previous);
        keep.remove(key);
        writePrevious(keep);
        previous.remove(key);
    }

    /** The trusted keys by id, for device configs. */
    public synchronized Map<String, PublicKey> byId() {
        Map<String, PublicKey> keys = new LinkedHashMap<>();
        trusted().forEach(e -> keys.put(e.keyId(), e.key()));
        return keys;
    }

    private void writeIdentity() throws IOException {
        if (identityKeyId == null) {
            Secrets.writePrivate(dir.resolve(IDENTITY), active.keyId() + "\n");
            identityKeyId = active.keyId();
        }
    }

    private void writePrevious(List<PublicKey> keys) throws IOException {
        StringBuilder text = new StringBuilder("# public keys that signed before the active one; devices trust them until `turnout key retire`\n");
        keys.forEach(k -> text.append(k.toBase64()).append('\n'));
        Secrets.writePrivate(dir.resolve(PREVIOUS), text.toString());
    }

    private static void restrict(Path file) throws IOException {
        try {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException e) {
            LOG.warn("cannot restrict the permissions of {} on this file system", file);
        }
    }

    @Override
    public synchronized String toString() {
        return "Keyring[active " + active.keyId() + (next == null ? "" : ", next " + next.keyId()) + ", " + previous.size() + " previous]";
    }
}
