package dev.turnout.edge.app;

import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EdgeConfigTest {

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();

    private Path write(String yaml) throws IOException {
        Path file = dir.resolve("edge.yaml");
        Files.writeString(file, yaml, StandardCharsets.UTF_8);
        return file;
    }

    private String minimal() {
        return """
                deviceId: pi-1
                brokerUrl: tcp://127.0.0.1:1883
                trustedKeys:
                  - keyId: %s
                    publicKey: %s
                """.formatted(key.keyId(), key.publicKey().toBase64());
    }

    @Test
    void updateSettingsHaveDefaultsAndAcceptBothSpellings() throws IOException {
        EdgeConfig defaults = EdgeConfig.load(write(minimal()));
        assertThat(defaults.updateWindow()).isNull();
        assertThat(defaults.maxRollbackAttempts()).isEqualTo(3);
        assertThat(defaults.clockTrust()).isEqualTo(EdgeConfig.ClockTrust.AUTO);

        EdgeConfig set = EdgeConfig.load(write(minimal() + """
                update-window: "02:00-04:00"
                max-rollback-attempts: 5
                clockTrust: never
                crashLoopRestarts: 2
                checkInterval: 5m
                lock-timeout: 45m
                """));
        assertThat(set.updateWindow()).hasToString("02:00-04:00");
        assertThat(set.maxRollbackAttempts()).isEqualTo(5);
        assertThat(set.clockTrust()).isEqualTo(EdgeConfig.ClockTrust.NEVER);
        assertThat(set.crashLoopRestarts()).isEqualTo(2);
        assertThat(defaults.crashLoopRestarts()).isZero();
        assertThat(set.checkInterval()).isEqualTo(Duration.ofMinutes(5));
        assertThat(defaults.checkInterval()).isEqualTo(Duration.ofSeconds(30));
        assertThat(set.lockTimeout()).isEqualTo(Duration.ofMinutes(45));
        assertThat(defaults.lockTimeout()).isEqualTo(Duration.ofMinutes(10));
        assertThatThrownBy(() -> EdgeConfig.load(write(minimal() + "lockTimeout: 0s\n"))).hasMessageContaining("lockTimeout must be positive");

        assertThatThrownBy(() -> EdgeConfig.load(write(minimal() + "updateWindow: 2am-4am\n")))
                .hasMessageContaining("HH:MM-HH:MM");
        assertThatThrownBy(() -> EdgeConfig.load(write(minimal() + "maxRollbackAttempts: -1\n")))
                .hasMessageContaining("maxRollbackAttempts");
        assertThatThrownBy(() -> EdgeConfig.load(write(minimal() + "clockTrust: sometimes\n")))
                .hasMessageContaining("auto, always or never");
    }

    @Test
    void loadsTheDocumentedFileWithDefaults() throws IOException {
        EdgeConfig config = EdgeConfig.load(write(minimal() + """
                labels: {site: attic}
                orchestratorUrl: http://127.0.0.1:8080
                mqttUsername: pi-1
                mqttPassword: secret-password
                healthReportInterval: 15s
                """));
        assertThat(config.deviceId()).isEqualTo("pi-1");
        assertThat(config.labels()).containsEntry("site", "attic");
        assertThat(config.topicPrefix()).isEqualTo("turnout/v1");
        assertThat(config.dockerHost()).isEqualTo("unix:///var/run/docker.sock");
        assertThat(config.platform()).isNull();
        assertThat(config.healthReportInterval()).isEqualTo(Duration.ofSeconds(15));
        assertThat(config.publicKeys()).containsExactly(key.publicKey());
        assertThat(config.toString()).doesNotContain("secret-password");
    }

    @Test
    void composeVariablesAreTheDevicesOwnAndNeverPrinted() throws IOException {
        EdgeConfig config = EdgeConfig.load(write(minimal() + """
                variables:
                  BROKER_PASSWORD: s3cret-on-the-pi-only
                  LINE: ""
                """));
        assertThat(config.variables()).containsEntry("BROKER_PASSWORD", "s3cret-on-the-pi-only").containsEntry("LINE", "");
        assertThat(config.toString()).contains("BROKER_PASSWORD").doesNotContain("s3cret-on-the-pi-only");
        assertThat(config.withLockTimeout(java.time.Duration.ofMinutes(1)).variables()).isEqualTo(config.variables());
        assertThat(EdgeConfig.load(write(minimal())).variables()).isEmpty();
        assertThatThrownBy(() -> EdgeConfig.load(write(minimal() + "variables:\n  1LINE: north\n")))
                .hasMessageContaining("'1LINE' is not a variable name");
    }

    @Test
    void theDownloadRateLimitIsReadAsPeopleWriteItAndABadOneIsRefusedWithWhatIsAccepted() throws IOException {
        assertThat(EdgeConfig.load(write(minimal())).downloadRateLimit()).as("none unless set").isZero();
        EdgeConfig limited = EdgeConfig.load(write(minimal() + "download:\n  rateLimit: 500KiB/s\n"));
        assertThat(limited.downloadRateLimit()).isEqualTo(512_000);
        assertThat(limited.toString()).contains("download.rateLimit=500 KiB/s");
        assertThat(EdgeConfig.load(write(minimal() + "download:\n  rate-limit: 2MB/s\n")).downloadRateLimit()).isEqualTo(2_000_000);
        assertThatThrownBy(() -> EdgeConfig.load(write(minimal() + "download:\n  rateLimit: fast\n")))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(": download.rateLimit 'fast' is not a rate: write a number, a unit B, KB, KiB, MB, MiB, GB or GiB"
                        + " and /s, e.g. 500KiB/s or 2MB/s");
        assertThatThrownBy(() -> EdgeConfig.load(write(minimal() + "download:\n  rateLimit: 500Kbit/s\n")))
                .hasMessageContaining("unknown unit 'Kbit'");
        assertThatThrownBy(() -> EdgeConfig.load(write(minimal() + "download:\n  speed: 5MiB/s\n")))
                .hasMessageContaining("unknown key 'speed'");
    }

    @Test
    void theRetryTimesDefaultToAFleetsAndAreReadAsPeopleWriteThem() throws IOException {
        EdgeConfig defaults = EdgeConfig.load(write(minimal()));
        assertThat(defaults.retryTimes()).isEqualTo(new EdgeConfig.RetryTimes(java.time.Duration.ofSeconds(30),
                java.time.Duration.ofSeconds(15), java.time.Duration.ofMinutes(2)));
        EdgeConfig quick = EdgeConfig.load(write(minimal() + "reconnectBackoffMax: 1s\ndownload:\n  maxBackoff: 500ms\n  retry-window: 4s\n"));
        assertThat(quick.retryTimes()).isEqualTo(EdgeConfig.RetryTimes.DEFAULTS.compressedBy(30));
        assertThat(quick.withLockTimeout(java.time.Duration.ofMinutes(1)).retryTimes()).isEqualTo(quick.retryTimes());
        assertThat(quick.toString()).contains("reconnectBackoffMax=PT1S");
        assertThatThrownBy(() -> EdgeConfig.load(write(minimal() + "reconnectBackoffMax: 0s\n")))
                .isInstanceOf(IOException.class).hasMessageContaining("reconnectBackoffMax must be positive");
        assertThatThrownBy(() -> EdgeConfig.load(write(minimal() + "download:\n  maxBackoff: soon\n")))
                .isInstanceOf(IOException.class).hasMessageContaining("not a duration: 'soon'");
    }

    @Test
    void unknownKeysAreAnError() throws IOException {
        Path file = write(minimal() + "brokerURL: tcp://typo:1883\n");
        assertThatThrownBy(() -> EdgeConfig.load(file)).isInstanceOf(IOException.class).hasMessageContaining("unknown key 'brokerURL'");
    }

    @Test
    void aKeyIdThatDoesNotMatchItsKeyIsAnError() throws IOException {
        Path file = write(minimal().replace(key.keyId(), "0000000000000000"));
        assertThatThrownBy(() -> EdgeConfig.load(file)).hasMessageContaining("does not match");
    }

    @Test
    void missingRequiredValuesAreNamed() {
        assertThatThrownBy(() -> EdgeConfig.of("pi-1", "tcp://x:1883", null, List.of())).hasMessageContaining("trustedKeys");
        assertThatThrownBy(() -> EdgeConfig.of("pi/1", "tcp://x:1883", null,
                List.of(new EdgeConfig.TrustedKeyConfig(key.keyId(), key.publicKey().toBase64())))).hasMessageContaining("deviceId");
    }

    @Test
    void mainExplainsAMissingConfigInOneLine() {
        PrintStream original = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = EdgeMain.run("--config", dir.resolve("nope.yaml").toString(), "--data", dir.toString());
        } finally {
            System.setErr(original);
        }
        assertThat(code).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8).strip()).startsWith("turnout-edge: config file").contains("does not exist")
                .doesNotContain("\n");
    }

    @Test
    void parsesDurations() {
        assertThat(EdgeConfig.parseDuration("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(EdgeConfig.parseDuration("2m")).isEqualTo(Duration.ofMinutes(2));
        assertThat(EdgeConfig.parseDuration("PT3S")).isEqualTo(Duration.ofSeconds(3));
    }
}
