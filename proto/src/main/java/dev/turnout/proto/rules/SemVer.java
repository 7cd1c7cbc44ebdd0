package dev.turnout.proto.rules;

import java.util.Comparator;
import java.util.regex.Pattern;

/**
 * Semantic versions, the one notion of a version shared by the orchestrator, the edge daemon and the
 * simulator: what a release may be called ({@link #isWellFormed}) and how two versions order
 * ({@link #compare}).
 */
public final class SemVer {

    /** {@link #compare} as a comparator. */
    public static final Comparator<String> ORDER = SemVer::compare;

    /** Semantic Versioning 2.0.0: MAJOR.MINOR.PATCH without leading zeros, optional pre-release and build. */
    private static final Pattern WELL_FORMED = Pattern.compile(
            "(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?");

    private SemVer() {
    }

    /** Whether {@code version} is a semantic version such as {@code 1.4.2} or {@code 2.0.0-rc.1+build.5}; null is not. */
    public static boolean isWellFormed(String version) {
        return version != null && WELL_FORMED.matcher(version).matches();
    }

    /**
     * Orders two versions: major.minor.patch numerically (a missing or non-numeric part counts as 0, a
     * leading {@code v} is ignored), then a pre-release before its release, pre-release identifiers
     * numerically or else by text; build metadata is ignored. Lenient, so that any version a device
     * already runs can be compared.
     */
    public static int compare(String a, String b) {
        String[] coreA = core(a);
        String[] coreB = core(b);
        for (int i = 0; i < 3; i++) {
            int c = Long.compare(number(coreA, i), number(coreB, i));
            if (c != 0) {
                return c;
            }
        }
        String preA = pre(a);
        String preB = pre(b);
        if (preA.isEmpty() || preB.isEmpty()) {
            return Boolean.compare(preA.isEmpty(), preB.isEmpty());
        }
        return comparePre(preA, preB);
    }

    private static String[] core(String v) {
        String s = v.startsWith("v") ? v.substring(1) : v;
        int cut = indexOfAny(s);
        return (cut < 0 ? s : s.substring(0, cut)).split("\\.");
    }

    private static String pre(String v) {
        int plus = v.indexOf('+');
        String s = plus < 0 ? v : v.substring(0, plus);
        int dash = s.indexOf('-');
        return dash < 0 ? "" : s.substring(dash + 1);
    }

    private static int indexOfAny(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == '-' || s.charAt(i) == '+') {
                return i;
            }
        }
        return -1;
    }

    private static long number(String[] parts, int i) {
        if (i >= parts.length) {
            return 0;
        }
        try {
            return Long.parseLong(parts[i]);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static int comparePre(String a, String b) {
        String[] pa = a.split("\\.");
        String[] pb = b.split("\\.");
        for (int i = 0; i < Math.min(pa.length, pb.length); i++) {
            boolean na = pa[i].matches("\\d+");
            boolean nb = pb[i].matches("\\d+");
            int c = na && nb ? Long.compare(Long.parseLong(pa[i]), Long.parseLong(pb[i]))
                    : na ? -1 : nb ? 1 : pa[i].compareTo(pb[i]);
            if (c != 0) {
                return c;
            }
        }
        return Integer.compare(pa.length, pb.length);
    }
}
