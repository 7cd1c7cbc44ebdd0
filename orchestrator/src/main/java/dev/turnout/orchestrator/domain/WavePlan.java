package dev.turnout.orchestrator.domain;

import java.util.ArrayList;
import java.util.List;

/**
 * Wave arithmetic: cumulative counts or percentages of N targeted devices, such as
 * {@code 1,50%,100%}, become the sizes of the waves. Percentages round up, empty waves are dropped
 * and the last wave always reaches every device.
 */
public final class WavePlan {

    private WavePlan() {
    }

    /** The steps of {@code spec} ({@code "1,50%,100%"}); the default is {@code 100%}. */
    public static List<Threshold> parse(String spec) {
        if (spec == null || spec.isBlank()) {
            return List.of(new Threshold(100, true));
        }
        List<Threshold> steps = new ArrayList<>();
        for (String part : spec.split(",", -1)) {
            steps.add(Threshold.parse(part, "waves"));
        }
        return steps;
    }

    /** The size of every non-empty wave for {@code total} devices. */
    public static List<Integer> sizes(List<Threshold> steps, int total) {
        List<Integer> sizes = new ArrayList<>();
        long covered = 0;
        for (int i = 0; i < steps.size(); i++) {
            long cumulative = Math.min(total, steps.get(i).of(total));
            if (i == steps.size() - 1) {
                cumulative = total;
            }
            if (cumulative > covered) {
                sizes.add((int) (cumulative - covered));
                covered = cumulative;
            }
        }
        return sizes;
    }

    /** Shorthand for {@code sizes(parse(spec), total)}. */
    public static List<Integer> sizes(String spec, int total) {
        return sizes(parse(spec), total);
    }
}
