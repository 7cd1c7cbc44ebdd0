package dev.turnout.edge.port;

import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.Reason;

import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;

/**
 * The edge daemon's own versions: the built-in one (what was installed with the daemon) and the agent releases it
 * installed in its data directory, and the launcher that starts one of them (docs/edge-daemon.md, "Agent releases").
 * A switch is a trial: the launcher starts the new version and goes back to the previous one by itself unless the new
 * one confirms, once it has connected and reported, within the device's agentStartTimeout.
 */
public interface AgentVersions {

    /** The release version of the built-in daemon in {@link #runningRelease()} and {@link #beginTrial}. */
    String BUILT_IN = "";

    /** The version this process reports: its agent release's, or the built-in version. */
    String runningVersion();

    /** The agent release this process runs, or {@link #BUILT_IN}. */
    String runningRelease();

    /** The built-in version's own number. */
    String builtInVersion();

    /** Why this daemon cannot switch versions (its launcher does not manage agent releases); null when it can. */
    String cannotSwitch();

    /** Whether {@code version} is unpacked and complete (staged before). */
    boolean installed(String version);

    /** Unpacks the verified distribution of {@code version} (kept as it is when that version is there already). */
    void install(String version, Path distribution) throws UpdateFailure;

    /** Makes {@code version} ({@link #BUILT_IN}: the built-in one) current, on trial, with {@code previous} to go back to. */
    void beginTrial(String version, String previous) throws UpdateFailure;

    /** Ends this process so that its launcher starts the current version. */
    void restart();

    /** Whether the running version is on trial (switched to, not yet confirmed). */
    boolean onTrial();

    /** The trial of the running version is over: it came back, connected and reported. */
    void confirmTrial();

    /** The launcher's word on a failed trial of {@code version} ({@link #BUILT_IN} too), if it left one. */
    Optional<TrialFailure> failedTrial(String version);

    /** Removes the installed releases other than {@code keep}. */
    void retainOnly(Set<String> keep);

    /**
     * A trial the launcher ended by going back to the previous version.
     *
     * @param reason {@link Reason#AGENT_START_FAILED} (the new version exited) or {@link Reason#AGENT_NOT_CONNECTED}
     *               (it ran past the deadline without confirming)
     */
    record TrialFailure(String version, Reason reason, String message) {
    }

    /** A daemon that runs its built-in version and cannot switch (tests, a daemon started without its launcher). */
    static AgentVersions builtInOnly(String version) {
        return new AgentVersions() {
            @Override
            public String runningVersion() {
                return version;
            }

            @Override
            public String runningRelease() {
                return BUILT_IN;
            }

            @Override
            public String builtInVersion() {
                return version;
            }

            @Override
            public String cannotSwitch() {
                return "this daemon was not started by a launcher that switches versions (bin/turnout-edge or the packaged"
                        + " turnout-edge, with --data)";
            }

            @Override
            public boolean installed(String v) {
                return false;
            }

            @Override
            public void install(String v, Path distribution) throws UpdateFailure {
                throw new UpdateFailure(Reason.AGENT_START_FAILED, cannotSwitch());
            }

            @Override
            public void beginTrial(String v, String previous) throws UpdateFailure {
                throw new UpdateFailure(Reason.AGENT_START_FAILED, cannotSwitch());
            }

            @Override
            public void restart() {
                // never switched: nothing to restart for
            }

            @Override
            public boolean onTrial() {
                return false;
            }

            @Override
            public void confirmTrial() {
                // no trial
            }

            @Override
            public Optional<TrialFailure> failedTrial(String v) {
                return Optional.empty();
            }

            @Override
            public void retainOnly(Set<String> keep) {
                // nothing installed
            }
        };
    }
}
