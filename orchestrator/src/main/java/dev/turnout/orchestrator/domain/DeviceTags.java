package dev.turnout.orchestrator.domain;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The labels and groups a device is targeted by ({@code label:KEY=VALUE}, {@code group:NAME}): the
 * rules they follow, the same at enrollment and when they change, and the changes themselves. Pure.
 *
 * <p>A label key or a group is 1-64 letters, digits, {@code .}, {@code _}, {@code -} or {@code /}:
 * no {@code =}, {@code :}, {@code ,} or whitespace, which a target could not name. A label value is
 * at most 128 characters, without control characters and without leading or trailing whitespace
 * (a target's value is trimmed, so such a label could never be matched); it may be empty.
 */
public final class DeviceTags {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._/-]{1,64}");
    static final int MAX_VALUE = 128;
    private static final String NAME_RULE = "use 1-64 letters, digits, '.', '_', '-' or '/'";

    private DeviceTags() {
    }

    /** Checks every label; returns them sorted by key (null: none). */
    public static Map<String, String> checkLabels(Map<String, String> labels) {
        Map<String, String> checked = new TreeMap<>();
        if (labels == null) {
            return checked;
        }
        labels.forEach((key, value) -> {
            checkLabelKey(key);
            checkLabelValue(key, value);
            checked.put(key, value);
        });
        return checked;
    }

    /** Checks every group; returns them in order, each once (null: none). */
    public static List<String> checkGroups(Collection<String> groups) {
        Set<String> checked = new LinkedHashSet<>();
        if (groups == null) {
            return List.of();
        }
        for (String g : groups) {
            checkGroup(g);
            checked.add(g);
        }
        return List.copyOf(checked);
    }

    public static void checkLabelKey(String key) {
        if (key == null || !NAME.matcher(key).matches()) {
            throw new InvalidInputException("label key '" + printable(key) + "' is invalid: " + NAME_RULE);
        }
    }

    public static void checkGroup(String group) {
        if (group == null || !NAME.matcher(group).matches()) {
            throw new InvalidInputException("group '" + printable(group) + "' is invalid: " + NAME_RULE);
        }
    }

    private static void checkLabelValue(String key, String value) {
        if (value == null) {
            throw new InvalidInputException("label " + key + " has no value: give KEY=VALUE (an empty value is KEY=)");
        }
        if (value.length() > MAX_VALUE) {
            throw new InvalidInputException("label " + key + " has a value of " + value.length() + " characters: at most "
                    + MAX_VALUE);
        }
        if (value.chars().anyMatch(Character::isISOControl)) {
            throw new InvalidInputException("label " + key + " has a control character in its value");
        }
        if (!value.equals(value.strip())) {
            throw new InvalidInputException("label " + key + " has whitespace around its value '" + value
                    + "': a target could never match it");
        }
    }

    /**
     * {@code current} with the labels of {@code set} set (added or replaced) and the keys of
     * {@code remove} removed (a key it does not have is ignored); sorted by key. Refuses an empty
     * change, a key both set and removed, and any label the rules refuse.
     */
    public static Map<String, String> relabel(Map<String, String> current, Map<String, String> set, Collection<String> remove) {
        Map<String, String> adding = set == null ? Map.of() : set;
        Collection<String> removing = remove == null ? List.of() : remove;
        if (adding.isEmpty() && removing.isEmpty()) {
            throw new InvalidInputException("no label to set or remove: give KEY=VALUE to set, or keys to remove");
        }
        Map<String, String> checked = checkLabels(adding);
        for (String key : removing) {
            checkLabelKey(key);
            if (checked.containsKey(key)) {
                throw new InvalidInputException("label " + key + " is both set and removed: do one or the other");
            }
        }
        Map<String, String> next = new TreeMap<>(current);
        next.putAll(checked);
        removing.forEach(next::remove);
        return next;
    }

    /**
     * {@code current} with the groups of {@code add} added (at the end, if missing) and those of
     * {@code remove} removed (one it is not in is ignored). Refuses an empty change, a group both
     * added and removed, and any group the rules refuse.
     */
    public static List<String> regroup(List<String> current, Collection<String> add, Collection<String> remove) {
        List<String> adding = checkGroups(add);
        List<String> removing = checkGroups(remove);
        if (adding.isEmpty() && removing.isEmpty()) {
            throw new InvalidInputException("no group to add or remove");
        }
        for (String g : adding) {
            if (removing.contains(g)) {
                throw new InvalidInputException("group " + g + " is both added and removed: do one or the other");
            }
        }
        Set<String> next = new LinkedHashSet<>(current);
        next.addAll(adding);
        removing.forEach(next::remove);
        return new ArrayList<>(next);
    }

    /** Labels as the audit trail writes them: {@code {site=attic, tier=2}}, sorted by key. */
    public static String describe(Map<String, String> labels) {
        return new TreeMap<>(labels).toString();
    }

    private static String printable(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder();
        s.codePoints().forEach(c -> {
            if (Character.isISOControl(c)) {
                b.append(String.format("\\u%04x", c));
            } else {
                b.appendCodePoint(c);
            }
        });
        return b.toString();
    }
}
