package dev.turnout.orchestrator.domain;

/** A number of devices given as a count ({@code 2}) or a percentage ({@code 10%}) of a total. */
public record Threshold(long value, boolean percent) {

    /** Parses {@code 3} or {@code 25%}; {@code field} names the input in the error message. */
    public static Threshold parse(String text, String field) {
        if (text == null || text.isBlank()) {
            throw new InvalidInputException(field + " must be a count such as 2 or a percentage such as 10%");
        }
        String s = text.trim();
        boolean percent = s.endsWith("%");
        String digits = percent ? s.substring(0, s.length() - 1).trim() : s;
        if (digits.isEmpty() || digits.length() > 9 || !digits.chars().allMatch(Character::isDigit)) {
            throw new InvalidInputException(field + " '" + text + "' is not a count such as 2 or a percentage such as 10%");
        }
        long value = Long.parseLong(digits);
        if (percent && value > 100) {
            throw new InvalidInputException(field + " '" + text + "' is more than 100%");
        }
        return new Threshold(value, percent);
    }

    /** The number of devices this threshold means out of {@code total}; percentages round up. */
    public long of(long total) {
        if (!percent) {
            return value;
        }
        return (value * total + 99) / 100;
    }

    @Override
    public String toString() {
        return percent ? value + "%" : Long.toString(value);
    }
}
