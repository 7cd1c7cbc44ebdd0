package dev.turnout.edge.domain;

import java.util.Comparator;

/** Semantic version ordering (major.minor.patch, a pre-release sorts before its release). */
public final class SemVer {

    public static final Comparator<String> ORDER = SemVer::compare;

    private SemVer() {
    }

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
