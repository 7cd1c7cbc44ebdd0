package dev.turnout.proto.agent;

/** The file is not an edge daemon distribution Turnout can install; the message says why, for the person who made it. */
public final class InvalidAgentDistributionException extends Exception {

    public InvalidAgentDistributionException(String message) {
        super(message);
    }
}
