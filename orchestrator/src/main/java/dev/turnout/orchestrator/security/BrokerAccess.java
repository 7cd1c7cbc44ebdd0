package dev.turnout.orchestrator.security;

import dev.turnout.broker.BrokerIdentities;
import dev.turnout.broker.PasswordHash;
import dev.turnout.broker.Role;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.store.BrokerIdentity;
import dev.turnout.orchestrator.store.IdentityStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Who may use the broker: the orchestrator's own identity plus every device and monitor identity
 * in the {@link IdentityStore}. Issues secrets (returned once, stored only as hashes), revokes
 * them, and answers the embedded broker's credential checks.
 *
 * <p>A connect costs one store read and one HMAC-SHA256 ({@link StoredSecrets}): a reconnect storm of
 * a whole fleet after a restart is bound by the broker, not by checking secrets. The store is read on
 * every connect, so a revoked name is refused at once.
 */
public final class BrokerAccess implements BrokerIdentities {

    private static final Logger LOG = LoggerFactory.getLogger(BrokerAccess.class);

    /** A new identity and its secret; the secret is shown once and never stored. */
    public record Issued(String name, Role role, String secret) {
    }

    private final IdentityStore store;
    private final OrchestratorIdentity orchestrator;
    private final Clock clock;
    private final Set<String> active = ConcurrentHashMap.newKeySet();
    private final List<Runnable> changeListeners = new CopyOnWriteArrayList<>();
    private final List<Consumer<String>> revokeListeners = new CopyOnWriteArrayList<>();

    public BrokerAccess(IdentityStore store, OrchestratorIdentity orchestrator, Clock clock) {
        this.store = store;
        this.orchestrator = orchestrator;
        this.clock = clock;
        store.list().forEach(identity -> active.add(identity.name()));
    }

    public OrchestratorIdentity orchestrator() {
        return orchestrator;
    }

    /** Called after every issue and revocation (e.g. to rewrite a Mosquitto password file). */
    public void onChange(Runnable listener) {
        changeListeners.add(listener);
    }

    /** Called with the name after a revocation (e.g. to drop its connection). */
    public void onRevoke(Consumer<String> listener) {
        revokeListeners.add(listener);
    }

    /** True when {@code name} can never be a device or monitor: it belongs to an orchestrator. */
    public boolean isReserved(String name) {
        return name != null && (name.equals(orchestrator.name()) || name.startsWith(OrchestratorIdentity.NAME_PREFIX));
    }

    /**
     * Refuses a name that cannot be issued: {@link InvalidInputException} when malformed,
     * {@link ConflictException} when reserved or taken.
     */
    public void checkIssuable(String name) {
        if (!Names.isValid(name)) {
            throw new InvalidInputException("name '" + name + "' is invalid: use 1-64 letters, digits, '.', '_' or '-'"
                    + " (no '+', '#', '/', whitespace or control characters)");
        }
        if (isReserved(name)) {
            throw new ConflictException("the name " + name + " is reserved for the orchestrator");
        }
        if (store.find(name).isPresent()) {
            throw new ConflictException("the name " + name + " is already a broker identity");
        }
    }

    /** A fresh random secret with its stored hashes; {@link #newSecret()} makes one. Never logged or stored as is. */
    public record NewSecret(String secret, String secretHash, String mosquittoHash) {
        @Override
        public String toString() {
            return "NewSecret[hashed]";
        }
    }

    /**
     * A fresh random secret with its HMAC-SHA256 hash and its Mosquitto PBKDF2 hash (about a
     * millisecond): callers that issue under a lock make it before taking the lock.
     */
    public static NewSecret newSecret() {
        String secret = Secrets.newSecret();
        return new NewSecret(secret, PasswordHash.hashMachineSecret(secret), MosquittoPasswordHash.hash(secret));
    }

    /** Creates an identity with a fresh random secret. */
    public Issued issue(String name, Role role) {
        return issue(name, role, newSecret());
    }

    /** Creates an identity with {@code secret}, made by {@link #newSecret()} for this identity only. */
    public Issued issue(String name, Role role, NewSecret secret) {
        checkIssuable(name);
        store.insert(new BrokerIdentity(name, role, secret.secretHash(), secret.mosquittoHash(), clock.instant()));
        active.add(name);
        LOG.info("issued broker credentials for {} ({})", name, role);
        changed();
        return new Issued(name, role, secret.secret());
    }

    /** Removes an identity: its next connect fails and its connection is dropped. False when unknown. */
    public boolean revoke(String name) {
        active.remove(name);
        boolean removed = store.delete(name);
        if (removed) {
            LOG.info("revoked the broker credentials of {}", name);
            for (Consumer<String> listener : revokeListeners) {
                try {
                    listener.accept(name);
                } catch (RuntimeException e) {
                    LOG.warn("after revoking {}: {}", name, e.toString());
                }
            }
            changed();
        }
        return removed;
    }

    public Optional<BrokerIdentity> find(String name) {
        return store.find(name);
    }

    /** Every stored identity (devices and monitors), sorted by name. */
    public List<BrokerIdentity> identities() {
        return store.list();
    }

    @Override
    public boolean isActive(String username) {
        return orchestrator.name().equals(username) || active.contains(username);
    }

    @Override
    public Optional<Role> authenticate(String username, byte[] password) {
        if (username == null || password == null) {
            return Optional.empty();
        }
        if (orchestrator.matches(username, password)) {
            return Optional.of(Role.ORCHESTRATOR);
        }
        if (isReserved(username)) {
            return Optional.empty();
        }
        Optional<BrokerIdentity> identity = store.find(username);
        if (identity.isEmpty() || !StoredSecrets.matches(store, identity.get(), new String(password, StandardCharsets.UTF_8))) {
            return Optional.empty();
        }
        return Optional.of(identity.get().role());
    }

    private void changed() {
        for (Runnable listener : changeListeners) {
            try {
                listener.run();
            } catch (RuntimeException e) {
                LOG.warn("after a change of broker identities: {}", e.toString());
            }
        }
    }
}
