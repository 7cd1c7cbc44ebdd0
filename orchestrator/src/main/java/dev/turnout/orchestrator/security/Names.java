package dev.turnout.orchestrator.security;

import java.util.regex.Pattern;

/**
 * Broker identity names (device ids, monitor names): 1-64 letters, digits, {@code .}, {@code _},
 * {@code -}, starting with a letter or digit. Stricter than a topic level: a name also has to be
 * safe in a Mosquitto password file ({@code :}) and ACL file ({@code %}, whitespace).
 */
public final class Names {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    private Names() {
    }

    public static boolean isValid(String name) {
        return name != null && NAME.matcher(name).matches();
    }
}
