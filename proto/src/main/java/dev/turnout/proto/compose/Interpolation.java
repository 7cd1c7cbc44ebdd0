package dev.turnout.proto.compose;

import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Compose's variable substitution in one scalar: {@code $VAR}, {@code ${VAR}}, {@code ${VAR:-default}} (unset or
 * empty), {@code ${VAR-default}} (unset), {@code ${VAR:?error}} / {@code ${VAR?error}} (required),
 * {@code ${VAR:+alt}} / {@code ${VAR+alt}} and {@code $$} for a literal {@code $}. Defaults may themselves hold
 * variables. An unset variable without a default is the empty string, as in Compose.
 */
final class Interpolation {

    private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    /** Thrown when a required variable is unset or the syntax is bad; the caller adds the file and key. */
    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;

        Failure(String message) {
            super(message);
        }
    }

    /** Thrown in deferring mode when a scalar uses a variable the map does not set. */
    static final class Deferred extends Exception {
        private static final long serialVersionUID = 1L;
        final String variable;

        Deferred(String variable) {
            super(variable, null, false, false);
            this.variable = variable;
        }
    }

    private final Map<String, String> variables;
    private final boolean defer;

    /**
     * @param variables the values (a device's or a release's env map)
     * @param defer     whether a scalar using a variable the map does not set is left unresolved ({@link Deferred}),
     *                  for checks made before the device's own values are known
     */
    Interpolation(Map<String, String> variables, boolean defer) {
        this.variables = Map.copyOf(variables);
        this.defer = defer;
    }

    String apply(String text) throws Failure, Deferred {
        if (text.indexOf('$') < 0) {
            return text;
        }
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < text.length()) {
            char c = text.charAt(i);
            if (c != '$') {
                out.append(c);
                i++;
                continue;
            }
            if (i + 1 >= text.length()) {
                throw new Failure("'" + text + "' ends with a lone '$'; write $$ for a literal $");
            }
            char next = text.charAt(i + 1);
            if (next == '$') {
                out.append('$');
                i += 2;
            } else if (next == '{') {
                int close = closingBrace(text, i + 2);
                if (close < 0) {
                    throw new Failure("'" + text + "' has a ${ without its closing }");
                }
                out.append(braced(text.substring(i + 2, close), text));
                i = close + 1;
            } else {
                int end = i + 1;
                while (end < text.length() && (Character.isLetterOrDigit(text.charAt(end)) || text.charAt(end) == '_')) {
                    end++;
                }
                String name = text.substring(i + 1, end);
                if (!NAME.matcher(name).matches()) {
                    throw new Failure("'" + text + "' has a '$' not followed by a variable name; write $$ for a literal $");
                }
                out.append(value(name).orElse(""));
                i = end;
            }
        }
        return out.toString();
    }

    private String braced(String inner, String text) throws Failure, Deferred {
        int op = 0;
        while (op < inner.length() && (Character.isLetterOrDigit(inner.charAt(op)) || inner.charAt(op) == '_')) {
            op++;
        }
        String name = inner.substring(0, op);
        if (!NAME.matcher(name).matches()) {
            throw new Failure("'" + text + "': '${" + inner + "}' does not start with a variable name");
        }
        String rest = inner.substring(op);
        boolean colon = rest.startsWith(":");
        String kind = colon ? rest.substring(0, Math.min(2, rest.length())) : rest.substring(0, Math.min(1, rest.length()));
        String arg = rest.substring(kind.length());
        Optional<String> raw = variables.containsKey(name) ? Optional.of(variables.get(name)) : Optional.empty();
        boolean set = colon ? raw.filter(v -> !v.isEmpty()).isPresent() : raw.isPresent();
        switch (kind) {
            case "" -> {
                return value(name).orElse("");
            }
            case ":-", "-" -> {
                if (set) {
                    return raw.get();
                }
                if (defer && raw.isEmpty()) {
                    throw new Deferred(name);
                }
                return apply(arg);
            }
            case ":?", "?" -> {
                if (set) {
                    return raw.get();
                }
                if (defer && raw.isEmpty()) {
                    throw new Deferred(name);
                }
                throw new Failure("required variable " + name + " is " + (raw.isEmpty() ? "not set" : "empty")
                        + (arg.isEmpty() ? "" : ": " + apply(arg)));
            }
            case ":+", "+" -> {
                if (defer && raw.isEmpty()) {
                    throw new Deferred(name);
                }
                return set ? apply(arg) : "";
            }
            default -> throw new Failure("'" + text + "': '${" + inner + "}' is not ${VAR}, ${VAR:-default}, ${VAR-default},"
                    + " ${VAR:?error}, ${VAR?error}, ${VAR:+alt} or ${VAR+alt}");
        }
    }

    private Optional<String> value(String name) throws Deferred {
        if (variables.containsKey(name)) {
            return Optional.of(variables.get(name));
        }
        if (defer) {
            throw new Deferred(name);
        }
        return Optional.empty();
    }

    private static int closingBrace(String text, int from) {
        int depth = 1;
        for (int i = from; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '{' && text.charAt(i - 1) == '$') {
                depth++;
            } else if (c == '}' && --depth == 0) {
                return i;
            }
        }
        return -1;
    }
}
