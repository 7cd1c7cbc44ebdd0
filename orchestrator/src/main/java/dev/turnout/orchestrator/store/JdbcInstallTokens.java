package dev.turnout.orchestrator.store;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.Optional;

import static dev.turnout.orchestrator.store.JdbcSession.instant;
import static dev.turnout.orchestrator.store.JdbcSession.millis;

/** One-time install tokens: table {@code install_tokens}. */
final class JdbcInstallTokens implements InstallTokenStore {

    private final JdbcSession session;

    JdbcInstallTokens(JdbcSession session) {
        this.session = session;
    }

    @Override
    public void insertInstallToken(InstallToken t, Instant forgetBefore) {
        session.inTransaction(() -> {
            session.update("DELETE FROM install_tokens WHERE expires_at < ?", millis(forgetBefore));
            session.update("INSERT INTO install_tokens (token_hash, device_id, sealed_config, config_sha256, created_at, expires_at,"
                    + " used_at) VALUES (?,?,?,?,?,?,?)", t.tokenHash(), t.deviceId(), t.sealedConfig(), t.configSha256(),
                    millis(t.createdAt()), millis(t.expiresAt()), millis(t.usedAt()));
        });
    }

    @Override
    public Optional<InstallToken> findInstallToken(String tokenHash) {
        return session.query("SELECT * FROM install_tokens WHERE token_hash = ?", JdbcInstallTokens::token, tokenHash)
                .stream().findFirst();
    }

    @Override
    public boolean spendInstallToken(String tokenHash, Instant now) {
        return session.update("UPDATE install_tokens SET used_at = ?, sealed_config = ? WHERE token_hash = ? AND used_at IS NULL"
                + " AND expires_at > ?", millis(now), new byte[0], tokenHash, millis(now)) == 1;
    }

    private static InstallToken token(ResultSet rs) throws SQLException {
        return new InstallToken(rs.getString("token_hash"), rs.getString("device_id"), rs.getBytes("sealed_config"),
                rs.getString("config_sha256"), instant(rs, "created_at"), instant(rs, "expires_at"), instant(rs, "used_at"));
    }
}
