package dev.turnout.proto.compose;

import java.util.ArrayList;
import java.util.List;

/** Splits a command line into words the way Compose does for a string {@code command}: quotes and backslashes, no expansion. */
final class ShellWords {

    private ShellWords() {
    }

    static List<String> split(String line, String where) throws InvalidComposeException {
        List<String> words = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        boolean inWord = false;
        char quote = 0;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quote == '\'') {
                if (c == '\'') {
                    quote = 0;
                } else {
                    word.append(c);
                }
            } else if (quote == '"') {
                if (c == '"') {
                    quote = 0;
                } else if (c == '\\' && i + 1 < line.length() && "\"\\$`".indexOf(line.charAt(i + 1)) >= 0) {
                    word.append(line.charAt(++i));
                } else {
                    word.append(c);
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
                inWord = true;
            } else if (c == '\\' && i + 1 < line.length()) {
                word.append(line.charAt(++i));
                inWord = true;
            } else if (Character.isWhitespace(c)) {
                if (inWord) {
                    words.add(word.toString());
                    word.setLength(0);
                    inWord = false;
                }
            } else {
                word.append(c);
                inWord = true;
            }
        }
        if (quote != 0) {
            throw new InvalidComposeException(where + ": unterminated " + quote + " quote in '" + line + "'");
        }
        if (inWord) {
            words.add(word.toString());
        }
        return words;
    }
}
