package dev.turnout.edge.domain;

/**
 * What the runtime says about one container.
 *
 * @param state Docker's state word ("running", "exited", "restarting", "missing", ...)
 * @param running whether it runs now
 * @param restarting whether the engine is restarting it
 * @param restartCount how often the engine restarted it
 * @param health the image HEALTHCHECK status ("healthy", "unhealthy", "starting", "" for none)
 * @param oomKilled whether the kernel killed a process of it for lack of memory (Docker's State.OOMKilled)
 * @param exitCode the exit code of its last run (0 while it runs or never ran)
 */
public record ContainerStatus(String state, boolean running, boolean restarting, int restartCount, String health, boolean oomKilled,
                              int exitCode) {

    public static final ContainerStatus MISSING = new ContainerStatus("missing", false, false, 0, "", false, 0);

    /** A container the kernel has not OOM-killed, exit code 0. */
    public ContainerStatus(String state, boolean running, boolean restarting, int restartCount, String health) {
        this(state, running, restarting, restartCount, health, false, 0);
    }

    /** Exit code 0. */
    public ContainerStatus(String state, boolean running, boolean restarting, int restartCount, String health, boolean oomKilled) {
        this(state, running, restarting, restartCount, health, oomKilled, 0);
    }

    /** Not OOM-killed. */
    public ContainerStatus(String state, boolean running, boolean restarting, int restartCount, String health, int exitCode) {
        this(state, running, restarting, restartCount, health, false, exitCode);
    }
}
