package dev.turnout.orchestrator.domain;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The counts and the list of unsaved devices a rollout keeps must always say what a walk over its devices says. */
class RolloutTest {

    private static final Instant T0 = Instant.parse("2026-11-23T10:00:00Z");

    @Test
    void countsAndUnsavedDevicesFollowEveryChange() {
        List<RolloutDevice> planned = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            planned.add(RolloutDevice.planned("pi-" + i, i < 6 ? 1 : 2, null));
        }
        Rollout r = rollout(planned);
        assertThat(r.unsavedDevices()).hasSize(60); // a new rollout is written whole
        r.devices().forEach(d -> d.saved(d.changes()));
        assertThat(r.unsavedDevices()).isEmpty();

        Random random = new Random(7);
        List<RolloutDevice> devices = List.copyOf(r.devices());
        for (int step = 0; step < 2_000; step++) {
            RolloutDevice d = devices.get(random.nextInt(devices.size()));
            Instant now = T0.plusSeconds(step);
            switch (random.nextInt(9)) {
                case 0 -> d.staging(step);
                case 1 -> d.staged();
                case 2 -> d.activating(step, now);
                case 3 -> d.succeeded("ok");
                case 4 -> d.failed("TIMEOUT", "late");
                case 5 -> d.rollingBack(step, now);
                case 6 -> d.rolledBack("back");
                case 7 -> d.cancelled("never");
                default -> d.restartWaiting(now);
            }
            if (random.nextInt(10) == 0) { // the store commits what it wrote
                r.unsavedDevices().forEach(u -> u.saved(u.changes()));
                assertThat(r.unsavedDevices()).isEmpty();
            }
            for (RolloutDeviceState s : RolloutDeviceState.values()) {
                assertThat(r.count(s)).as("%s after step %d", s, step)
                        .isEqualTo(devices.stream().filter(x -> x.state() == s).count());
                for (int wave = 1; wave <= 2; wave++) {
                    int w = wave;
                    assertThat(r.count(wave, s)).isEqualTo(devices.stream().filter(x -> x.wave() == w && x.state() == s).count());
                }
            }
            assertThat(r.settled(1)).isEqualTo(devices.stream().filter(x -> x.wave() == 1 && x.state().isSettled()).count());
            assertThat(r.unsavedDevices()).containsExactlyInAnyOrderElementsOf(
                    devices.stream().filter(RolloutDevice::unsaved).toList());
        }
    }

    @Test
    void aTimeoutWalkIsNeededOnlyOnceADeviceMayHaveWaitedLongEnough() {
        Rollout r = rollout(List.of(RolloutDevice.planned("pi-1", 1, null), RolloutDevice.planned("pi-2", 1, null)));
        r.earliestWaiting(null); // walked: nobody waits
        assertThat(r.mayHaveWaitedSince(T0.plusSeconds(3600))).isFalse();

        r.device("pi-1").activating(1, T0.plusSeconds(100));
        assertThat(r.mayHaveWaitedSince(T0.plusSeconds(99))).isFalse();
        assertThat(r.mayHaveWaitedSince(T0.plusSeconds(100))).isTrue();

        r.device("pi-2").activating(2, T0.plusSeconds(50));
        assertThat(r.mayHaveWaitedSince(T0.plusSeconds(60))).isTrue();

        r.add(RolloutDevice.planned("pi-3", 2, null)); // a device joins: unknown until the next walk
        r.earliestWaiting(T0.plusSeconds(500));
        assertThat(r.mayHaveWaitedSince(T0.plusSeconds(499))).isFalse();
        r.device("pi-1").restartWaiting(T0.plusSeconds(200)); // back from offline: the bound comes down
        assertThat(r.mayHaveWaitedSince(T0.plusSeconds(200))).isTrue();
        assertThat(r.waveCount()).isEqualTo(2);
    }

    private static Rollout rollout(List<RolloutDevice> devices) {
        RolloutStrategy strategy = RolloutStrategy.parse("10%,100%", null, null, null, null, null);
        return new Rollout("r-1", "web", "2.0.0", "all", strategy, T0, RolloutState.RUNNING, null, T0, 0, WaveState.DONE, T0, 0,
                devices);
    }
}
