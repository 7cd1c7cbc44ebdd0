package dev.turnout.orchestrator.store;

import java.time.Instant;
import java.util.Optional;

/** One-time install tokens (table {@code install_tokens}), by the hash of the token. Thread-safe, blocking. */
public interface InstallTokenStore {

    /** Stores a new token; tokens expired before {@code forgetBefore} are deleted on the way. */
    void insertInstallToken(InstallToken token, Instant forgetBefore);

    /** The token with this hash, used or not, expired or not. */
    Optional<InstallToken> findInstallToken(String tokenHash);

    /**
     * Spends a token: marks it used at {@code now} and drops its sealed config, if it is unused and unexpired at
     * {@code now}. False when another caller spent it first, or it expired: exactly one caller ever gets true.
     */
    boolean spendInstallToken(String tokenHash, Instant now);
}
