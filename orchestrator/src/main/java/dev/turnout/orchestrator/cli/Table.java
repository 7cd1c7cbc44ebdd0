package dev.turnout.orchestrator.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/** A plain text table: columns padded to their widest cell, two spaces apart. */
final class Table {

    private final List<String[]> rows = new ArrayList<>();
    /** Lines printed under a row, as they are (not in columns), by the row's index. */
    private final java.util.Map<Integer, List<String>> notes = new java.util.HashMap<>();

    Table(String... header) {
        rows.add(header);
    }

    Table row(Object... cells) {
        String[] text = new String[cells.length];
        for (int i = 0; i < cells.length; i++) {
            text[i] = cells[i] == null || "null".equals(String.valueOf(cells[i])) || String.valueOf(cells[i]).isEmpty()
                    ? "-" : String.valueOf(cells[i]);
        }
        rows.add(text);
        return this;
    }

    /** Lines printed under the last row, each after {@code prefix}, made safe for a terminal ({@link LogText}). */
    Table note(String prefix, String text) {
        List<String> lines = notes.computeIfAbsent(rows.size() - 1, i -> new ArrayList<>());
        for (String line : text.split("\n", -1)) {
            lines.add((prefix + LogText.line(line)).stripTrailing());
        }
        return this;
    }

    boolean isEmpty() {
        return rows.size() == 1;
    }

    void print(PrintStream out) {
        int columns = rows.get(0).length;
        int[] width = new int[columns];
        for (String[] row : rows) {
            for (int i = 0; i < columns && i < row.length; i++) {
                width[i] = Math.max(width[i], row[i].length());
            }
        }
        for (int r = 0; r < rows.size(); r++) {
            String[] row = rows.get(r);
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < columns && i < row.length; i++) {
                line.append(row[i]);
                if (i < columns - 1) {
                    line.append(" ".repeat(width[i] - row[i].length() + 2));
                }
            }
            out.println(line.toString().stripTrailing());
            notes.getOrDefault(r, List.of()).forEach(out::println);
        }
    }
}
