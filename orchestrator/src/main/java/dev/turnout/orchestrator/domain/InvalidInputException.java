package dev.turnout.orchestrator.domain;

/** Input a person must correct (HTTP 400). */
public class InvalidInputException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public InvalidInputException(String message) {
        super(message);
    }
}
