package dev.turnout.orchestrator.domain;

import java.util.Locale;

/** What a rollout does when failures exceed its threshold; persisted by name. */
public enum FailureAction {
    /** Pause the rollout; an operator resumes or aborts it. */
    PAUSE,
    /** Roll every activated device back to its previous release. */
    ROLLBACK;

    public static FailureAction parse(String text) {
        if (text == null || text.isBlank()) {
            return PAUSE;
        }
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "pause" -> PAUSE;
            case "rollback" -> ROLLBACK;
            default -> throw new InvalidInputException("onFailure must be 'pause' or 'rollback', got '" + text + "'");
        };
    }

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
