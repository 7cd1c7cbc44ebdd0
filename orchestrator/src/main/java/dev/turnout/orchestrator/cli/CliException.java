package dev.turnout.orchestrator.cli;

/** A failure the CLI reports as one line on stderr, with its exit code. */
final class CliException extends RuntimeException {

    private final int exitCode;

    CliException(int exitCode, String message) {
        super(message);
        this.exitCode = exitCode;
    }

    CliException(String message) {
        this(ExitCodes.ERROR, message);
    }

    int exitCode() {
        return exitCode;
    }
}
