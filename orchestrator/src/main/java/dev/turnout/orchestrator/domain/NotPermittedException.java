package dev.turnout.orchestrator.domain;

/** The caller is known but may not do this (the API answers 403). */
public class NotPermittedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public NotPermittedException(String message) {
        super(message);
    }
}
