package dev.turnout.orchestrator.security;

import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Slows down password guessing at sign-in ({@code POST /api/v1/session}, {@code POST /api/v1/tokens}):
 * after {@link #FREE_PER_NAME} wrong attempts for one operator name, or {@link #FREE_PER_ADDRESS} from one
 * client address, each further attempt for that name or from that address waits: 30 s after the first
 * one over, doubling up to {@link #LONGEST_WAIT}. While it waits, an attempt is refused (429 with
 * {@code Retry-After}) without its password being checked, so a guesser gets a handful of tries an hour
 * instead of thousands, while the person who mistyped waits seconds. A sign-in that succeeds clears its
 * name and address; a name or address is forgotten {@link #FORGET_AFTER} after its last failure or wait.
 * Kept in memory (bounded): a restart forgets it, as it does the sessions.
 */
public final class SignInThrottle {

    public static final int FREE_PER_NAME = 5;
    public static final int FREE_PER_ADDRESS = 20;
    public static final Duration FIRST_WAIT = Duration.ofSeconds(30);
    public static final Duration LONGEST_WAIT = Duration.ofMinutes(15);
    public static final Duration FORGET_AFTER = Duration.ofMinutes(15);
    private static final int TRACKED = 10_000;

    private record Failures(int count, long lastAt, long blockedUntil) {
    }

    private final Clock clock;
    private final Map<String, Failures> failures = new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Failures> eldest) {
            return size() > TRACKED;
        }
    };

    public SignInThrottle(Clock clock) {
        this.clock = clock;
    }

    /** How long a sign-in for {@code name} (null: the operator token) from {@code address} must wait; empty: go ahead. */
    public synchronized Optional<Duration> waitFor(String name, String address) {
        long now = clock.millis();
        long until = Math.max(blockedUntil(nameKey(name), now), blockedUntil(addressKey(address), now));
        return until > now ? Optional.of(Duration.ofMillis(until - now)) : Optional.empty();
    }

    /** Records a wrong attempt; returns how long the next attempt for this name or address must wait (zero: none). */
    public synchronized Duration failed(String name, String address) {
        long now = clock.millis();
        long until = 0;
        if (name != null) {
            until = record(nameKey(name), FREE_PER_NAME, now);
        }
        until = Math.max(until, record(addressKey(address), FREE_PER_ADDRESS, now));
        return Duration.ofMillis(Math.max(0, until - now));
    }

    /** A sign-in succeeded: its name and address start afresh. */
    public synchronized void succeeded(String name, String address) {
        if (name != null) {
            failures.remove(nameKey(name));
        }
        failures.remove(addressKey(address));
    }

    private long record(String key, int free, long now) {
        Failures f = current(key, now);
        int count = (f == null ? 0 : f.count()) + 1;
        long until = 0;
        if (count > free) {
            int over = Math.min(count - free - 1, 10);
            long wait = Math.min(FIRST_WAIT.toMillis() << over, LONGEST_WAIT.toMillis());
            until = now + wait;
        }
        failures.put(key, new Failures(count, now, until));
        return until;
    }

    private long blockedUntil(String key, long now) {
        Failures f = current(key, now);
        return f == null ? 0 : f.blockedUntil();
    }

    private Failures current(String key, long now) {
        Failures f = failures.get(key);
        if (f != null && now - Math.max(f.lastAt(), f.blockedUntil()) > FORGET_AFTER.toMillis()) {
            failures.remove(key);
            return null;
        }
        return f;
    }

    private static String nameKey(String name) {
        return "name:" + (name == null ? "" : name.toLowerCase(Locale.ROOT));
    }

    private static String addressKey(String address) {
        return "address:" + address;
    }
}
