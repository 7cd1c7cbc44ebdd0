package dev.turnout.orchestrator.app;

import java.util.LinkedHashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The metric names a PromQL expression (as Grafana panels write them) selects. Not a PromQL parser:
 * strings, label matchers, ranges, grouping clauses and Grafana variables are removed first; what is
 * left is function calls, operators, numbers and metric names, and a metric name is an identifier
 * followed by {@code {}, {@code [}, {@code )}, {@code ,}, whitespace or the end that is no keyword
 * and not followed by {@code (} (that is a function or an aggregation).
 */
final class PromQlNames {

    private static final Set<String> KEYWORDS = Set.of("and", "or", "unless", "by", "without", "on", "ignoring",
            "group_left", "group_right", "offset", "bool", "inf", "nan", "atan2", "start", "end");
    private static final Pattern STRING = Pattern.compile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`");
    private static final Pattern MATCHERS = Pattern.compile("\\{[^}]*}");
    private static final Pattern RANGE = Pattern.compile("\\[[^]]*]");
    private static final Pattern GROUPING = Pattern.compile(
            "\\b(?:by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)", Pattern.CASE_INSENSITIVE);
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{[^}]*}|\\$\\w+|\\[\\[\\w+]]");
    private static final Pattern OFFSET = Pattern.compile("\\boffset\\s+-?\\w+", Pattern.CASE_INSENSITIVE);
    private static final Pattern NUMBER = Pattern.compile("(?<![\\w:])(?:0x[0-9a-fA-F]+|\\d+(?:\\.\\d*)?(?:[eE][+-]?\\d+)?\\w*)");
    private static final Pattern IDENTIFIER = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern LABEL_VALUES = Pattern.compile("^\\s*label_values\\(\\s*(.+?)\\s*,\\s*[a-zA-Z_]\\w*\\s*\\)\\s*$");

    private PromQlNames() {
    }

    /** The metric names {@code expr} selects, in order of appearance. */
    static Set<String> of(String expr) {
        String s = STRING.matcher(expr).replaceAll(" \"\" ");
        s = VARIABLE.matcher(s).replaceAll(" ");
        s = MATCHERS.matcher(s).replaceAll("{}");
        s = RANGE.matcher(s).replaceAll("[]");
        s = GROUPING.matcher(s).replaceAll(" ");
        s = OFFSET.matcher(s).replaceAll(" ");
        s = NUMBER.matcher(s).replaceAll(" ");
        Set<String> names = new LinkedHashSet<>();
        Matcher m = IDENTIFIER.matcher(s);
        while (m.find()) {
            String id = m.group();
            int next = m.end();
            while (next < s.length() && Character.isWhitespace(s.charAt(next))) {
                next++;
            }
            char after = next < s.length() ? s.charAt(next) : ' ';
            if (after == '(' || KEYWORDS.contains(id.toLowerCase(java.util.Locale.ROOT))) {
                continue;
            }
            if (next == s.length() || after == '{' || after == '[' || after == ')' || after == ','
                    || next > m.end() /* whitespace: an operator or the end follows */) {
                names.add(id);
            }
        }
        return names;
    }

    /**
     * The metric names a Grafana template variable's query selects: {@code label_values(EXPR, label)}
     * (EXPR a metric or a selector), {@code query_result(EXPR)}, or PromQL; {@code label_values(label)}
     * and {@code label_names()} select none.
     */
    static Set<String> ofVariableQuery(String query) {
        Matcher lv = LABEL_VALUES.matcher(query);
        if (lv.matches()) {
            return of(lv.group(1));
        }
        if (query.trim().matches("label_values\\(\\s*\\w+\\s*\\)|label_names\\(\\s*\\)|metrics\\(.*\\)")) {
            return Set.of();
        }
        return of(query.trim().replaceFirst("^query_result\\((.*)\\)$", "$1"));
    }
}
