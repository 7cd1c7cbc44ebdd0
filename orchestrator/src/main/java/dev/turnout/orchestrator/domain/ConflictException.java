package dev.turnout.orchestrator.domain;

/** The thing exists already or is in a state that forbids the request (HTTP 409). */
public class ConflictException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ConflictException(String message) {
        super(message);
    }
}
