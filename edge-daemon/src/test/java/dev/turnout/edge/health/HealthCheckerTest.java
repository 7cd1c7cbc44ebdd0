package dev.turnout.edge.health;

import dev.turnout.edge.domain.ContainerStatus;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.Reason;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class HealthCheckerTest {

    private static final ContainerStatus RUNNING = new ContainerStatus("running", true, false, 0, "");

    /** Time moves only when the checker sleeps or a probe takes time. */
    private static final class FakeClock implements MonotonicClock {
        long now;

        @Override
        public long nanoTime() {
            return now;
        }

        @Override
        public void sleep(Duration duration) {
            now += duration.toNanos();
        }
    }

    private final FakeClock clock = new FakeClock();
    private final Deque<Boolean> probeAnswers = new ArrayDeque<>();
    private final Deque<ContainerStatus> statuses = new ArrayDeque<>();
    private int probes;

    private final HealthChecker checker = new HealthChecker(id -> statuses.size() > 1 ? statuses.poll() : statuses.peek(),
            check -> (id, timeout) -> {
                probes++;
                return probeAnswers.size() > 1 ? probeAnswers.poll() : probeAnswers.peek();
            }, clock);

    private static HealthCheck check(long soakMs) {
        return HealthCheck.newBuilder().addExec("true").setIntervalMs(500).setTimeoutMs(1000).setRetries(3).setSoakMs(soakMs).build();
    }

    @Test
    void passesWhenHealthyThroughTheSoak() throws UpdateFailure {
        statuses.add(RUNNING);
        probeAnswers.add(true);
        checker.verify("c", check(2000));
        assertThat(clock.now).isEqualTo(Duration.ofMillis(2000).toNanos());
        assertThat(probes).isEqualTo(5);
    }

    @Test
    void failsAfterRetriesConsecutiveFailures() {
        statuses.add(RUNNING);
        probeAnswers.addAll(List.of(true, false, false, false, true));
        assertThatThrownBy(() -> checker.verify("c", check(10_000)))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.HEALTH_CHECK_FAILED));
        assertThat(probes).isEqualTo(4);
    }

    @Test
    void aSuccessResetsTheFailureCount() throws UpdateFailure {
        statuses.add(RUNNING);
        probeAnswers.addAll(List.of(false, false, true, false, false, true));
        checker.verify("c", check(2000));
        assertThat(probes).isEqualTo(6);
    }

    @Test
    void aStartingContainerMayFailFewerThanRetriesTimes() throws UpdateFailure {
        statuses.add(RUNNING);
        probeAnswers.addAll(List.of(false, false, true));
        checker.verify("c", check(0));
        assertThat(probes).isEqualTo(3);
    }

    @Test
    void aContainerThatExitsFailsAtOnce() {
        statuses.addAll(List.of(RUNNING, RUNNING, new ContainerStatus("exited", false, false, 0, "")));
        probeAnswers.add(true);
        assertThatThrownBy(() -> checker.verify("c", check(60_000)))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.HEALTH_CHECK_FAILED));
        assertThat(clock.now).isLessThan(Duration.ofSeconds(2).toNanos());
    }

    @Test
    void aRestartDuringTheSoakIsACrashLoop() {
        statuses.addAll(List.of(RUNNING, RUNNING, RUNNING, new ContainerStatus("running", true, false, 1, "")));
        probeAnswers.add(true);
        assertThatThrownBy(() -> checker.verify("c", check(60_000)))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.CRASH_LOOP));
    }

    @Test
    void restartsUpToTheToleratedNumberPassAndOneMoreIsACrashLoop() throws UpdateFailure {
        HealthChecker tolerant = new HealthChecker(id -> statuses.size() > 1 ? statuses.poll() : statuses.peek(),
                check -> (id, timeout) -> true, clock, 2);
        ContainerStatus restarting = new ContainerStatus("restarting", false, true, 1, "");
        statuses.addAll(List.of(RUNNING, RUNNING, restarting, new ContainerStatus("running", true, false, 2, "")));
        tolerant.verify("c", check(2000));

        statuses.clear();
        clock.now = 0;
        statuses.addAll(List.of(RUNNING, RUNNING, new ContainerStatus("running", true, false, 2, ""),
                new ContainerStatus("running", true, false, 3, "")));
        assertThatThrownBy(() -> tolerant.verify("c", check(60_000)))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).as(e.getMessage()).isEqualTo(Reason.CRASH_LOOP));
    }

    @Test
    void aResumedCheckWaitsOnlyForTheRestOfTheSoakAndGetsItsRetriesAgain() throws UpdateFailure {
        statuses.add(RUNNING);
        probeAnswers.addAll(List.of(false, false, true));
        checker.resume("c", check(4000), Duration.ofMillis(2500));
        assertThat(clock.now).as("1.5 s of the 4 s soak were left").isEqualTo(Duration.ofMillis(1500).toNanos());
        assertThat(probes).isEqualTo(4);
    }

    @Test
    void aResumedCheckWhoseSoakIsOverStillNeedsOneHealthyProbe() {
        statuses.add(RUNNING);
        probeAnswers.add(false);
        assertThatThrownBy(() -> checker.resume("c", check(4000), Duration.ofMinutes(5)))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.HEALTH_CHECK_FAILED));
        assertThat(probes).as("the probe gets its retries, not one try").isEqualTo(3);
    }

    @Test
    void aResumedCheckCountsTheRestartsSinceTheContainerStartedAlsoWhileNoDaemonWatched() {
        // one restart while the daemon was down: a fresh check would take 1 as its base and pass
        statuses.add(new ContainerStatus("running", true, false, 1, ""));
        probeAnswers.add(true);
        assertThatThrownBy(() -> checker.resume("c", check(4000), Duration.ofSeconds(1)))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.CRASH_LOOP));
    }

    @Test
    void dockersOwnCheckIsWaitedForWhileStartingAndFailsAtOnceWhenUnhealthy() throws UpdateFailure {
        HealthCheck docker = HealthCheck.newBuilder().setDocker(true).setIntervalMs(500).setTimeoutMs(1000).setRetries(2).setSoakMs(1000).build();
        ContainerStatus starting = new ContainerStatus("running", true, false, 0, "starting");
        ContainerStatus healthy = new ContainerStatus("running", true, false, 0, "healthy");
        // starting for longer than retries x interval is not a failure
        statuses.addAll(List.of(starting, starting, starting, starting, healthy));
        probeAnswers.add(true);
        checker.verify("c", docker);

        statuses.clear();
        statuses.addAll(List.of(starting, starting, new ContainerStatus("running", true, false, 0, "unhealthy")));
        assertThatThrownBy(() -> checker.verify("c", docker))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.getMessage()).contains("unhealthy"));
    }
}
