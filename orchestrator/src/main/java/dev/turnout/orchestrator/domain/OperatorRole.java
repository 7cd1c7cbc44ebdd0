package dev.turnout.orchestrator.domain;

import java.util.Locale;

/** What an operator account may do over the HTTP API (docs/security.md, "Operator accounts"); persisted by name. Each role includes the ones above it. */
public enum OperatorRole {
    /** Reads everything but backups and the operator accounts: fleet, releases, rollouts, audit, metrics, events. */
    VIEWER,
    /** A viewer who also uploads releases, deploys, pauses, resumes, approves, aborts and rolls back rollouts, and raises rollback floors. */
    DEPLOYER,
    /** A deployer who also enrolls and removes devices, changes their labels and groups, manages broker users and operator accounts, takes backups and rotates the operator token. */
    ADMIN;

    /** True when this role may do what {@code needed} may. */
    public boolean includes(OperatorRole needed) {
        return compareTo(needed) >= 0;
    }

    /** {@code viewer}, {@code deployer} or {@code admin}; anything else is {@link InvalidInputException}. */
    public static OperatorRole parse(String text) {
        if (text != null) {
            for (OperatorRole role : values()) {
                if (role.wireName().equals(text.trim().toLowerCase(Locale.ROOT))) {
                    return role;
                }
            }
        }
        throw new InvalidInputException("role must be viewer, deployer or admin, got '" + text + "'");
    }

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
