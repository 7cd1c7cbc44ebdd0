package dev.turnout.edge.engine;

import dev.turnout.proto.UpdateState;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TransitionsTest {

    @ParameterizedTest
    @CsvSource({
            "IDLE, DOWNLOADING", "DOWNLOADING, STAGED", "STAGED, APPLYING", "APPLYING, VERIFYING", "VERIFYING, ACTIVE",
            "APPLYING, ROLLING_BACK", "VERIFYING, ROLLING_BACK", "ROLLING_BACK, ROLLED_BACK",
            "ACTIVE, DOWNLOADING", "ROLLED_BACK, DOWNLOADING", "FAILED, DOWNLOADING", "DOWNLOADING, DOWNLOADING",
            "ACTIVE, ACTIVE", "ROLLED_BACK, ACTIVE", "STAGED, ACTIVE",
            "IDLE, FAILED", "DOWNLOADING, FAILED", "APPLYING, FAILED", "VERIFYING, FAILED", "ROLLING_BACK, FAILED",
            "STAGED, WAITING_FOR_WINDOW", "WAITING_FOR_WINDOW, APPLYING", "WAITING_FOR_WINDOW, DOWNLOADING", "WAITING_FOR_WINDOW, ACTIVE",
            "WAITING_FOR_WINDOW, FAILED", "ACTIVE, FAILED", "VERIFYING, VERIFYING",
            // removal: from any resting state; resumed after a restart; left only by a new release or another removal
            "ACTIVE, REMOVING", "IDLE, REMOVING", "STAGED, REMOVING", "WAITING_FOR_WINDOW, REMOVING", "ROLLED_BACK, REMOVING",
            "FAILED, REMOVING", "REMOVING, REMOVED", "REMOVING, REMOVING", "REMOVING, FAILED", "REMOVED, DOWNLOADING",
            "REMOVED, REMOVING",
            // the update lock: staged (or the window just opened), waits; then switches, is replaced, or gives up
            "STAGED, WAITING_FOR_LOCK", "WAITING_FOR_WINDOW, WAITING_FOR_LOCK", "WAITING_FOR_LOCK, APPLYING",
            "WAITING_FOR_LOCK, DOWNLOADING", "WAITING_FOR_LOCK, ACTIVE", "WAITING_FOR_LOCK, FAILED", "WAITING_FOR_LOCK, REMOVING"})
    void allowed(UpdateState from, UpdateState to) {
        assertThat(Transitions.isAllowed(from, to)).isTrue();
    }

    @ParameterizedTest
    @CsvSource({
            "IDLE, ACTIVE", "IDLE, APPLYING", "DOWNLOADING, APPLYING", "STAGED, VERIFYING", "APPLYING, ACTIVE",
            "ACTIVE, VERIFYING", "ACTIVE, ROLLING_BACK", "ROLLED_BACK, ROLLING_BACK", "ROLLING_BACK, ACTIVE",
            "VERIFYING, ROLLED_BACK", "FAILED, APPLYING", "ACTIVE, REJECTED", "IDLE, IDLE",
            "DOWNLOADING, WAITING_FOR_WINDOW", "IDLE, WAITING_FOR_WINDOW", "WAITING_FOR_WINDOW, VERIFYING", "WAITING_FOR_WINDOW, ROLLING_BACK",
            // a removal never cuts into a switch, and a removed app does not come back by itself
            "APPLYING, REMOVING", "VERIFYING, REMOVING", "DOWNLOADING, REMOVING", "ROLLING_BACK, REMOVING", "REMOVING, ACTIVE",
            "REMOVED, ACTIVE", "REMOVED, APPLYING", "IDLE, REMOVED", "ACTIVE, REMOVED",
            // the lock is looked at before the switch only: never while applying, nor before the release is staged
            "DOWNLOADING, WAITING_FOR_LOCK", "APPLYING, WAITING_FOR_LOCK", "VERIFYING, WAITING_FOR_LOCK", "IDLE, WAITING_FOR_LOCK",
            "WAITING_FOR_LOCK, VERIFYING", "WAITING_FOR_LOCK, ROLLING_BACK", "WAITING_FOR_LOCK, WAITING_FOR_WINDOW"})
    void forbidden(UpdateState from, UpdateState to) {
        assertThat(Transitions.isAllowed(from, to)).isFalse();
    }

    @Test
    void checkThrowsForAMoveOutsideTheTable() {
        assertThatThrownBy(() -> Transitions.check(UpdateState.IDLE, UpdateState.ACTIVE))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("IDLE -> ACTIVE");
    }

    @Test
    void restingStates() {
        assertThat(Transitions.isResting(UpdateState.ACTIVE)).isTrue();
        assertThat(Transitions.isResting(UpdateState.VERIFYING)).isFalse();
        assertThat(Transitions.isResting(UpdateState.WAITING_FOR_WINDOW)).isTrue();
        assertThat(Transitions.isResting(UpdateState.REMOVED)).isTrue();
        assertThat(Transitions.isResting(UpdateState.REMOVING)).isFalse();
        assertThat(Transitions.isResting(UpdateState.WAITING_FOR_LOCK)).isTrue();
    }
}
