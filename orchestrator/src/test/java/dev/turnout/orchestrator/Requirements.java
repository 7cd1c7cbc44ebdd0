package dev.turnout.orchestrator;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * A real part a test needs (Mosquitto, PostgreSQL, Chromium). A missing part skips the test on a
 * developer machine but fails it when {@code CI=true}, so CI can never go green by skipping.
 */
public final class Requirements {

    private Requirements() {
    }

    /** Returns when {@code present}; else fails on CI and skips elsewhere, naming {@code what} (and how to install it). */
    public static void require(boolean present, String what) {
        if (present) {
            return;
        }
        if ("true".equalsIgnoreCase(System.getenv("CI"))) {
            Assertions.fail("CI=true and this test needs " + what);
        }
        Assumptions.abort("needs " + what);
    }
}
