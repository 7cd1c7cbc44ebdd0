package dev.turnout.orchestrator.store;

import java.time.Instant;
import java.util.Objects;

/**
 * A one-time install token as stored (table {@code install_tokens}): never the token itself, only its SHA-256,
 * and the device's config sealed with a key derived from the token, so the store alone cannot open it.
 *
 * @param tokenHash     hex SHA-256 of the token
 * @param deviceId      the device it installs
 * @param sealedConfig  the config (with the broker secret), AES-GCM under a key derived from the token; empty once used
 * @param configSha256  hex SHA-256 of the config in clear, which the install script checks
 * @param createdAt     when it was issued
 * @param expiresAt     when it stops working
 * @param usedAt        when the config was fetched (the token is then spent); null while unused
 */
public record InstallToken(String tokenHash, String deviceId, byte[] sealedConfig, String configSha256, Instant createdAt,
                           Instant expiresAt, Instant usedAt) {

    public InstallToken {
        Objects.requireNonNull(tokenHash, "tokenHash");
        Objects.requireNonNull(deviceId, "deviceId");
        sealedConfig = sealedConfig == null ? new byte[0] : sealedConfig;
    }

    @Override
    public String toString() {
        return "InstallToken[" + deviceId + ", expires " + expiresAt + (usedAt == null ? "" : ", used " + usedAt) + "]";
    }
}
