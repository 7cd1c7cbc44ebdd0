package dev.turnout.proto.compose;

/**
 * A Compose file Turnout does not accept: bad YAML, a key outside the supported subset, a bad value, a dependency
 * cycle, a missing required variable. The message names the file and the key, e.g.
 * {@code docker-compose.yml: services.web.build: not supported by Turnout (supported keys: docs/compose.md)}.
 */
public final class InvalidComposeException extends Exception {

    private static final long serialVersionUID = 1L;

    public InvalidComposeException(String message) {
        super(message);
    }
}
