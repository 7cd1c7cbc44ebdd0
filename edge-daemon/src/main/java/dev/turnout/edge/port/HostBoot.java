package dev.turnout.edge.port;

/**
 * The host's current boot, so that a restarted daemon can tell its own restart (a crash, {@code kill -9},
 * {@code systemctl restart}: the containers kept running) from the host's (everything stopped or was restarted by
 * Docker's restart policy).
 */
public interface HostBoot {

    /** A host whose boot cannot be told: every start of the daemon counts as after a reboot, the safe side. */
    HostBoot UNKNOWN = new HostBoot() {
        @Override
        public String bootId() {
            return "";
        }

        @Override
        public long nanoTime() {
            return System.nanoTime();
        }
    };

    /** Identifies this boot of the host; "" when unknown, which never equals a saved boot. */
    String bootId();

    /**
     * Nanoseconds on a clock that never goes back and that every process of this boot shares, so a value saved by
     * one daemon process means the same instant to the next one on the same boot (meaningless across boots).
     */
    long nanoTime();
}
