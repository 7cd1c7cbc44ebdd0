package dev.turnout.orchestrator.security;

import dev.turnout.broker.PasswordHash;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.NotPermittedException;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.OperatorAccount;
import dev.turnout.orchestrator.domain.OperatorRole;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.orchestrator.store.AuditTrail;
import dev.turnout.orchestrator.store.OperatorStore;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Operator accounts (docs/security.md, "Operator accounts"): people with a name, a role and a
 * password (Argon2id, {@link PasswordHash#hash}), who sign in to the dashboard or get an API token
 * for the CLI ({@code turnout login}). A token is 256 random bits, stored only as its SHA-256, valid
 * {@link #TOKEN_LIFETIME} unless its owner logs out, gets a new password or is revoked. The name
 * {@value #BUILT_IN_ADMIN} belongs to the holder of the operator token (operator.token), the first
 * admin: no account can take it. Every change goes to the audit trail under the name of who made it.
 * Blocking (store, Argon2id): call it off the event loop.
 */
public final class OperatorAccounts {

    /** The name under which the operator token acts: the first admin. */
    public static final String BUILT_IN_ADMIN = "admin";
    /** How long an API token from {@link #login} is valid. */
    public static final Duration TOKEN_LIFETIME = Duration.ofDays(30);
    /** The shortest password a person may choose. */
    public static final int MIN_PASSWORD_CHARS = 12;
    private static final int MAX_PASSWORD_CHARS = 1024;
    /** Checked for unknown names, so that a wrong name takes as long as a wrong password. */
    private static final String DUMMY_HASH = PasswordHash.hash(Secrets.newSecret());

    /** A new account, with the password made for it (null when the caller chose it). */
    public record Issued(OperatorAccount account, String password) {
    }

    /** An API token (shown once) and whose it is. */
    public record Token(String token, OperatorAccount account, Instant expiresAt) {
    }

    private final OperatorStore store;
    private final AuditTrail audit;
    private final Clock clock;

    public OperatorAccounts(OperatorStore store, AuditTrail audit, Clock clock) {
        this.store = Objects.requireNonNull(store, "store");
        this.audit = Objects.requireNonNull(audit, "audit");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /** Creates an account; {@code password} null makes one (returned once). */
    public Issued add(String name, String role, String password, String actor) {
        checkName(name);
        OperatorRole parsed = OperatorRole.parse(role);
        String chosen = password == null ? Secrets.newSecret() : checkPassword(password);
        if (store.findOperator(name).isPresent()) {
            throw new ConflictException("the operator " + name + " exists already");
        }
        OperatorAccount account = new OperatorAccount(name, parsed, PasswordHash.hash(chosen), clock.instant(), actor);
        store.insertOperator(account);
        audit.appendAudit(new AuditEntry(clock.instant(), actor, "operator.add", name, "role " + parsed.wireName()));
        return new Issued(account, password == null ? chosen : null);
    }

    public List<OperatorAccount> list() {
        return store.listOperators();
    }

    public Optional<OperatorAccount> find(String name) {
        return name == null ? Optional.empty() : store.findOperator(name);
    }

    /** Deletes an account: its tokens and dashboard sessions stop working at their next request. */
    public void revoke(String name, String actor) {
        if (BUILT_IN_ADMIN.equals(name)) {
            throw new InvalidInputException(BUILT_IN_ADMIN + " is the holder of the operator token and cannot be revoked;"
                    + " rotate the token instead (turnout token rotate)");
        }
        if (!store.deleteOperator(name)) {
            throw new NotFoundException("there is no operator " + name);
        }
        audit.appendAudit(new AuditEntry(clock.instant(), actor, "operator.revoke", name, null));
    }

    /**
     * Gives {@code name} a new password ({@code password} null: made here and returned) and ends
     * all its tokens. {@code current} is the account's present password, needed when a person who
     * is not an admin changes their own; {@code actorIsAdmin} says whether the caller is one.
     */
    public String setPassword(String name, String password, String current, String actor, boolean actorIsAdmin) {
        if (BUILT_IN_ADMIN.equals(name)) {
            throw new InvalidInputException(BUILT_IN_ADMIN + " signs in with the operator token, not a password;"
                    + " rotate the token instead (turnout token rotate)");
        }
        if (!actorIsAdmin && !name.equals(actor)) {
            throw new NotPermittedException("only an admin may set the password of another operator");
        }
        OperatorAccount account = store.findOperator(name).orElseThrow(() -> new NotFoundException("there is no operator " + name));
        if (!actorIsAdmin) {
            if (current == null || !PasswordHash.verify(current, account.passwordHash())) {
                throw new NotPermittedException("the current password is wrong: give it as currentPassword to change your own");
            }
        }
        String chosen = password == null ? Secrets.newSecret() : checkPassword(password);
        if (!store.updateOperatorPassword(name, PasswordHash.hash(chosen))) {
            throw new NotFoundException("there is no operator " + name);
        }
        audit.appendAudit(new AuditEntry(clock.instant(), actor, "operator.password", name,
                name.equals(actor) ? "changed their own password" : "password reset"));
        return password == null ? chosen : null;
    }

    /** The account when {@code password} is its password; as slow for an unknown name as for a wrong password. */
    public Optional<OperatorAccount> authenticate(String name, String password) {
        if (name == null || password == null || name.isEmpty() || password.isEmpty() || password.length() > MAX_PASSWORD_CHARS
                || !Names.isValid(name)) {
            return Optional.empty();
        }
        Optional<OperatorAccount> account = store.findOperator(name);
        if (account.isEmpty()) {
            PasswordHash.verify(password, DUMMY_HASH);
            return Optional.empty();
        }
        return PasswordHash.verify(password, account.get().passwordHash()) ? account : Optional.empty();
    }

    /** A new API token for {@code name}, when {@code password} is right; recorded in the audit trail (never the token). */
    public Optional<Token> login(String name, String password, String from) {
        Optional<OperatorAccount> account = authenticate(name, password);
        if (account.isEmpty()) {
            return Optional.empty();
        }
        String token = Secrets.newSecret();
        Instant now = clock.instant();
        Instant expires = now.plus(TOKEN_LIFETIME);
        store.insertOperatorToken(tokenHash(token), name, now, expires);
        audit.appendAudit(new AuditEntry(now, name, "operator.login", name, "API token until " + expires + " from " + from));
        return Optional.of(new Token(token, account.get(), expires));
    }

    /** The account an API token belongs to, when it is valid now. */
    public Optional<OperatorAccount> byToken(String token) {
        if (token == null || token.isEmpty() || token.length() > 256) {
            return Optional.empty();
        }
        return store.operatorByToken(tokenHash(token), clock.instant());
    }

    /** Ends an API token; false when it was not one (any more). */
    public boolean logout(String token, String actor) {
        boolean ended = store.deleteOperatorToken(tokenHash(token), clock.instant());
        if (ended) {
            audit.appendAudit(new AuditEntry(clock.instant(), actor, "operator.logout", actor, "API token ended"));
        }
        return ended;
    }

    private static void checkName(String name) {
        if (name == null || !Names.isValid(name)) {
            throw new InvalidInputException("an operator name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit;"
                    + " got '" + name + "'");
        }
        if (BUILT_IN_ADMIN.equals(name)) {
            throw new ConflictException(BUILT_IN_ADMIN + " is the holder of the operator token (operator.token); choose another name");
        }
    }

    private static String checkPassword(String password) {
        if (password.length() < MIN_PASSWORD_CHARS || password.length() > MAX_PASSWORD_CHARS) {
            throw new InvalidInputException("a password has " + MIN_PASSWORD_CHARS + " to " + MAX_PASSWORD_CHARS + " characters");
        }
        if (password.isBlank() || password.chars().anyMatch(Character::isISOControl)) {
            throw new InvalidInputException("a password has no control characters and is not only spaces");
        }
        return password;
    }

    static String tokenHash(String token) {
        return HexFormat.of().formatHex(OperatorToken.sha256(token));
    }
}
