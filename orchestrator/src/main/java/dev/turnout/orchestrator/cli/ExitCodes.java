package dev.turnout.orchestrator.cli;

/** Exit codes of every {@code turnout} command; scripts rely on them. */
public final class ExitCodes {

    /** Done; for {@code --wait}/{@code watch}: every targeted device ended healthy on the new version. */
    public static final int OK = 0;
    /** Something went wrong: bad input, unknown thing, server unreachable or refusing. */
    public static final int ERROR = 1;
    /** The command line itself is wrong. */
    public static final int USAGE = 2;
    /** The rollout ended failed, rolled back or aborted, or not every device ended healthy. */
    public static final int ROLLOUT_FAILED = 3;
    /** The rollout paused (on failures or by an operator). */
    public static final int ROLLOUT_PAUSED = 4;

    private ExitCodes() {
    }
}
