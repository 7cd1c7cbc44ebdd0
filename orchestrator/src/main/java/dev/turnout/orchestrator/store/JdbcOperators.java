package dev.turnout.orchestrator.store;

import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.OperatorAccount;
import dev.turnout.orchestrator.domain.OperatorRole;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

import static dev.turnout.orchestrator.store.JdbcSession.instant;
import static dev.turnout.orchestrator.store.JdbcSession.millis;

/** Operator accounts and their API tokens: tables {@code operators} and {@code operator_tokens}. */
final class JdbcOperators implements OperatorStore {

    private final JdbcSession session;

    JdbcOperators(JdbcSession session) {
        this.session = session;
    }

    @Override
    public void insertOperator(OperatorAccount a) {
        session.inTransaction(() -> {
            if (findOperator(a.name()).isPresent()) {
                throw new ConflictException("the operator " + a.name() + " exists already");
            }
            session.update("INSERT INTO operators (name, role, password_hash, created_at, created_by) VALUES (?,?,?,?,?)",
                    a.name(), a.role().name(), a.passwordHash(), millis(a.createdAt()), a.createdBy());
        });
    }

    @Override
    public Optional<OperatorAccount> findOperator(String name) {
        return session.query("SELECT * FROM operators WHERE name = ?", JdbcOperators::account, name).stream().findFirst();
    }

    @Override
    public List<OperatorAccount> listOperators() {
        return session.query("SELECT * FROM operators ORDER BY name", JdbcOperators::account);
    }

    @Override
    public boolean updateOperatorPassword(String name, String passwordHash) {
        boolean[] updated = new boolean[1];
        session.inTransaction(() -> {
            updated[0] = session.update("UPDATE operators SET password_hash = ? WHERE name = ?", passwordHash, name) > 0;
            session.update("DELETE FROM operator_tokens WHERE operator = ?", name);
        });
        return updated[0];
    }

    @Override
    public boolean deleteOperator(String name) {
        boolean[] deleted = new boolean[1];
        session.inTransaction(() -> {
            session.update("DELETE FROM operator_tokens WHERE operator = ?", name);
            deleted[0] = session.update("DELETE FROM operators WHERE name = ?", name) > 0;
        });
        return deleted[0];
    }

    @Override
    public void insertOperatorToken(String tokenHash, String operator, Instant createdAt, Instant expiresAt) {
        session.update("INSERT INTO operator_tokens (token_hash, operator, created_at, expires_at) VALUES (?,?,?,?)",
                tokenHash, operator, millis(createdAt), millis(expiresAt));
    }

    @Override
    public Optional<OperatorAccount> operatorByToken(String tokenHash, Instant now) {
        return session.query("SELECT o.* FROM operator_tokens t JOIN operators o ON o.name = t.operator"
                + " WHERE t.token_hash = ? AND t.expires_at > ?", JdbcOperators::account, tokenHash, millis(now)).stream().findFirst();
    }

    @Override
    public boolean deleteOperatorToken(String tokenHash, Instant now) {
        boolean[] deleted = new boolean[1];
        session.inTransaction(() -> {
            deleted[0] = session.update("DELETE FROM operator_tokens WHERE token_hash = ?", tokenHash) > 0;
            session.update("DELETE FROM operator_tokens WHERE expires_at <= ?", millis(now));
        });
        return deleted[0];
    }

    private static OperatorAccount account(ResultSet rs) throws SQLException {
        return new OperatorAccount(rs.getString("name"), OperatorRole.valueOf(rs.getString("role")), rs.getString("password_hash"),
                instant(rs, "created_at"), rs.getString("created_by"));
    }
}
