package dev.turnout.orchestrator.observe;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class LiveEventsTest {

    @Test
    void aSubscriberThatReconnectsGetsWhatItMissedThenLiveEvents() throws Exception {
        LiveEvents live = new LiveEvents(3, 100);
        for (int i = 0; i < 5; i++) {
            live.publish("status", "pi-1", id -> "{\"n\":" + id + "}");
        }
        List<Long> seen = new ArrayList<>();
        AutoCloseable subscription = live.subscribe(101, e -> seen.add(e.id()));
        assertThat(seen).containsExactly(102L, 103L, 104L); // the oldest kept is 102: capacity 3
        live.publish("rollout", "r-1", id -> "{}");
        assertThat(seen).containsExactly(102L, 103L, 104L, 105L);

        subscription.close();
        live.publish("rollout", "r-1", id -> "{}");
        assertThat(seen).hasSize(4);
        assertThat(live.subscribers()).isZero();
    }

    @Test
    void aNewSubscriberWithoutAnIdGetsOnlyLiveEventsAndABrokenOneDoesNotStopOthers() {
        LiveEvents live = new LiveEvents(10, 1);
        live.publish("status", "pi-1", id -> "{}");
        List<String> seen = new ArrayList<>();
        live.subscribe(-1, e -> {
            throw new IllegalStateException("broken");
        });
        live.subscribe(-1, e -> seen.add(e.kind() + " " + e.subject() + " " + e.json()));
        live.publish("health", "pi-2", id -> "{\"id\":" + id + "}");
        assertThat(seen).containsExactly("health pi-2 {\"id\":2}");
    }
}
