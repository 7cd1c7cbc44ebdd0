package dev.turnout.orchestrator.http;

/** A caller who is known but may not do this: 403. */
final class ForbiddenException extends RuntimeException {
    ForbiddenException(String message) {
        super(message);
    }
}
