package dev.turnout.testsupport;

import java.util.ArrayList;
import java.util.List;

/**
 * The Docker engines the tests run against. {@code bin/test} starts them and names them in
 * {@code TURNOUT_TEST_ENGINES}: comma-separated {@code name=dockerHost} entries, e.g.
 * {@code debian12-classic=unix:///var/run/docker.sock,trixie-containerd=unix:///run/turnout-engines/trixie.sock}.
 * Without the variable the only engine is the machine's default one.
 */
public final class TestEngines {

    /** One engine: its name (which says its version and image store) and where its API listens. */
    public record Engine(String name, String dockerHost) {
        /** True when the engine keeps images in containerd's store rather than the classic graph driver. */
        public boolean containerdStore() {
            return name.contains("containerd");
        }

        @Override
        public String toString() {
            return name;
        }
    }

    public static final Engine DEFAULT = new Engine("default", "unix:///var/run/docker.sock");

    private TestEngines() {
    }

    /** Every engine under test, the default one first. */
    public static List<Engine> all() {
        return parse(System.getenv("TURNOUT_TEST_ENGINES"));
    }

    static List<Engine> parse(String spec) {
        List<Engine> engines = new ArrayList<>();
        if (spec == null || spec.isBlank()) {
            engines.add(DEFAULT);
            return engines;
        }
        for (String entry : spec.split(",")) {
            String trimmed = entry.trim();
            if (trimmed.isEmpty()) {
                continue;
            }
            int eq = trimmed.indexOf('=');
            if (eq <= 0 || eq == trimmed.length() - 1) {
                throw new IllegalArgumentException("TURNOUT_TEST_ENGINES entry '" + trimmed + "' is not name=dockerHost");
            }
            engines.add(new Engine(trimmed.substring(0, eq), trimmed.substring(eq + 1)));
        }
        return engines;
    }
}
