package dev.turnout.orchestrator.store;

import dev.turnout.orchestrator.domain.OperatorAccount;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Operator accounts and their API tokens (tables {@code operators}, {@code operator_tokens}). A token
 * is kept only as its SHA-256 (it is 256 random bits: a fast hash protects it as well as a slow one);
 * deleting an account deletes its tokens. Thread-safe, blocking.
 */
public interface OperatorStore {

    /** Adds an account; {@link dev.turnout.orchestrator.domain.ConflictException} when the name is taken. */
    void insertOperator(OperatorAccount account);

    Optional<OperatorAccount> findOperator(String name);

    /** Every account, sorted by name. */
    List<OperatorAccount> listOperators();

    /** Replaces an account's password hash and ends all its tokens; false when there is no such account. */
    boolean updateOperatorPassword(String name, String passwordHash);

    /** Deletes an account and all its tokens; false when there was none. */
    boolean deleteOperator(String name);

    /** Stores a token of {@code operator} by its hash, valid until {@code expiresAt}. */
    void insertOperatorToken(String tokenHash, String operator, Instant createdAt, Instant expiresAt);

    /** The account a token (by its hash) belongs to, when the token exists and has not expired at {@code now}. */
    Optional<OperatorAccount> operatorByToken(String tokenHash, Instant now);

    /** Ends one token; false when there was none. Expired tokens are deleted on the way. */
    boolean deleteOperatorToken(String tokenHash, Instant now);
}
