package dev.turnout.orchestrator.app;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ClusterOptionsTest {

    @Test
    void withoutAStoreTheOrchestratorIsAloneOnItsSqliteStore() {
        ClusterOptions single = ClusterOptions.single();
        assertThat(single.shared()).isFalse();
        assertThat(single.instanceId()).matches("[A-Za-z0-9_.-]{1,32}");
    }

    @Test
    void aPostgresStoreIsSharedWithDefaultsForTheRest() {
        ClusterOptions c = new ClusterOptions("jdbc:postgresql://db:5432/turnout", "turnout", "s3cret", null, "orch-1", null);
        assertThat(c.shared()).isTrue();
        assertThat(c.shareGroup()).isEqualTo("turnout");
        assertThat(c.leaseTtl()).isEqualTo(Duration.ofSeconds(10));
        assertThat(c.toString()).contains("orch-1").doesNotContain("s3cret");
    }

    @Test
    void badInputIsRefusedWithTheOptionToFix() {
        assertThatThrownBy(() -> new ClusterOptions("mysql://db/turnout", null, null, null, null, null))
                .hasMessageContaining("--store must be jdbc:postgresql://");
        assertThatThrownBy(() -> new ClusterOptions("jdbc:postgresql://db/t?user=u&password=hunter2", null, null, null, null, null))
                .hasMessageContaining("TURNOUT_STORE_PASSWORD").hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> new ClusterOptions("jdbc:postgresql://db/t", null, null, "a/b", null, null))
                .hasMessageContaining("--share-group");
        assertThatThrownBy(() -> new ClusterOptions("jdbc:postgresql://db/t", null, null, null, "a b", null))
                .hasMessageContaining("--instance-id");
        assertThatThrownBy(() -> new ClusterOptions("jdbc:postgresql://db/t", null, null, null, null, Duration.ofMillis(500)))
                .hasMessageContaining("--rollout-lease");
    }
}
