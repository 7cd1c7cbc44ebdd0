package dev.turnout.testsupport;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * Real parts a test needs. A missing part skips the test on a developer machine but fails it when
 * {@code CI=true}, so CI can never go green by skipping.
 */
public final class Requirements {

    private Requirements() {
    }

    /** Skips (or, in CI, fails) the calling test unless {@code present}; {@code what} says what is missing and how to get it. */
    public static void require(boolean present, String what) {
        if (present) {
            return;
        }
        if (inCi()) {
            Assertions.fail("CI=true and this test needs " + what);
        }
        Assumptions.abort("needs " + what);
    }

    public static boolean inCi() {
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }
}
