package dev.turnout.orchestrator.security;

import dev.turnout.broker.PasswordHash;

import dev.turnout.broker.Role;
import dev.turnout.proto.Topics;
import dev.turnout.orchestrator.store.BrokerIdentity;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MosquittoConfigTest {

    @TempDir
    Path dir;

    private final OrchestratorIdentity orchestrator = new OrchestratorIdentity("turnout-orchestrator-k1", "s3cret");
    private final List<BrokerIdentity> identities = List.of(
            new BrokerIdentity("pi-a", Role.DEVICE, "$argon2id$x", MosquittoPasswordHash.hash("a"), Instant.EPOCH),
            new BrokerIdentity("grafana", Role.MONITOR, "$argon2id$y", MosquittoPasswordHash.hash("g"), Instant.EPOCH));

    @Test
    void hashesAreSaltedAndVerify() {
        String one = PasswordHash.hash("secret");
        assertThat(one).startsWith("$argon2id$v=19$m=19456,t=2,p=1$");
        assertThat(PasswordHash.hash("secret")).isNotEqualTo(one);
        assertThat(PasswordHash.verify("secret", one)).isTrue();
        assertThat(PasswordHash.verify("secreT", one)).isFalse();
        assertThat(PasswordHash.verify("secret", "$argon2id$garbage")).isFalse();
        String mosquitto = MosquittoPasswordHash.hash("secret");
        assertThat(mosquitto).matches("\\$7\\$1000\\$[A-Za-z0-9+/]{16}\\$[A-Za-z0-9+/]{86}==");
        assertThat(MosquittoPasswordHash.verify("secret", mosquitto)).isTrue();
        assertThat(MosquittoPasswordHash.verify("other", mosquitto)).isFalse();
        assertThat(Secrets.newSecret()).hasSize(43).matches("[A-Za-z0-9_-]+");
    }

    @Test
    void aclDeniesByDefaultAndKeepsTheSiteRulesFirst() throws Exception {
        Files.writeString(dir.resolve(MosquittoConfig.SITE_ACL_FILE), "topic readwrite trains/#\n");
        Files.writeString(dir.resolve(MosquittoConfig.SITE_PASSWORD_FILE), "train-hub:$7$101$abc$def\n");
        new MosquittoConfig(Topics.defaults(), orchestrator, identities).writeTo(dir);
        String acl = Files.readString(dir.resolve(MosquittoConfig.ACL_FILE));
        assertThat(acl.indexOf("topic readwrite trains/#")).isLessThan(acl.indexOf("pattern write"));
        assertThat(acl).contains("pattern write turnout/v1/devices/%u/status\n", "pattern write turnout/v1/devices/%u/health\n",
                "pattern write turnout/v1/devices/%u/presence\n", "pattern read turnout/v1/devices/%u/desired\n",
                "pattern write turnout/v1/devices/%u/logs/response\n", "pattern read turnout/v1/devices/%u/logs/request\n",
                "user turnout-orchestrator-k1\n", "topic readwrite turnout/v1/#\n",
                "user grafana\ntopic deny turnout/v1/devices/grafana/#\n", "topic read turnout/v1/rollouts/+/events\n");
        assertThat(acl).doesNotContain("user pi-a");
        // monitors read no log: neither requests nor answers (a log is the app's own output)
        assertThat(acl.substring(acl.indexOf("user grafana"))).doesNotContain("logs");
        assertThat(acl).doesNotContain("pattern read turnout/v1/devices/%u/logs/response", "pattern write turnout/v1/devices/%u/logs/request");
        String passwd = Files.readString(dir.resolve(MosquittoConfig.PASSWORD_FILE));
        assertThat(passwd.lines().map(l -> l.substring(0, l.indexOf(':'))))
                .containsExactly("train-hub", "turnout-orchestrator-k1", "pi-a", "grafana");
        assertThat(Files.getPosixFilePermissions(dir.resolve(MosquittoConfig.PASSWORD_FILE)))
                .isEqualTo(PosixFilePermissions.fromString("rw-------"));
    }

    @Test
    void theSnippetPinsClientIdsUnlessAnonymousClientsOrSharedNamesNeedOtherwise() {
        String strict = MosquittoConfig.listenerSnippet(dir, "1883 0.0.0.0", false, true);
        assertThat(strict).contains("listener 1883 0.0.0.0\n", "allow_anonymous false\n", "use_username_as_clientid true\n", "max_queued_messages 1000000\n", "max_inflight_messages 1000\n",
                "password_file " + dir.toAbsolutePath().resolve("turnout.passwd"), "acl_file " + dir.toAbsolutePath().resolve("turnout.acl"));
        assertThat(MosquittoConfig.listenerSnippet(dir, null, true, true)).contains("allow_anonymous true\n", "# listener 1883")
                .doesNotContain("\nuse_username_as_clientid");
        assertThat(MosquittoConfig.listenerSnippet(dir, null, false, false)).doesNotContain("\nuse_username_as_clientid");
    }

    @Test
    void aSiteUserCannotShadowATurnoutIdentity() throws Exception {
        Files.writeString(dir.resolve(MosquittoConfig.SITE_PASSWORD_FILE), "pi-a:$7$101$abc$def\n");
        assertThatThrownBy(() -> new MosquittoConfig(Topics.defaults(), orchestrator, identities).writeTo(dir))
                .hasMessageContaining("pi-a");
    }
}
