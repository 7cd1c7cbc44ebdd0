package dev.turnout.orchestrator.cli;

import java.io.PrintStream;

/**
 * A container's log as the CLI prints it. The text is the app's own output, read on a device: control characters
 * (an escape sequence could rewrite the operator's terminal) are shown as {@code ^X} and C1 controls as {@code ?};
 * tabs stay.
 */
final class LogText {

    private LogText() {
    }

    /** One line made safe for a terminal. */
    static String line(String text) {
        StringBuilder b = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\t') {
                b.append(c);
            } else if (c < 0x20) {
                b.append('^').append((char) (c + 0x40));
            } else if (c == 0x7f) {
                b.append("^?");
            } else if (c >= 0x80 && c <= 0x9f) {
                b.append('?');
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    /** Prints each line of {@code text} after {@code prefix}, made safe for a terminal. */
    static void print(PrintStream out, String prefix, String text) {
        for (String line : text.split("\n", -1)) {
            out.println((prefix + line(line)).stripTrailing());
        }
    }
}
