package dev.turnout.orchestrator.enroll;

import dev.turnout.broker.Role;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.security.BrokerAccess;
import dev.turnout.orchestrator.store.IdentityStore;
import dev.turnout.orchestrator.security.OrchestratorIdentity;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.orchestrator.store.SqliteFleetStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.params.provider.Arguments.arguments;

class FleetEnrollmentTest {

    private static final String ORCHESTRATOR = "turnout-orchestrator-test";

    @TempDir
    Path data;

    private SqliteFleetStore store;
    private IdentityStore identities;
    private BrokerAccess access;
    private Enrollment enrollment;

    @BeforeEach
    void open() {
        Clock clock = Clock.systemUTC();
        store = SqliteFleetStore.open(data);
        identities = IdentityStore.open(data);
        access = new BrokerAccess(identities, new OrchestratorIdentity(ORCHESTRATOR, "orchestrator-secret"), clock);
        enrollment = new FleetEnrollment(store, access, clock);
        // the fleet every row starts from: an enrolled device, a revoked one and a monitor user
        enrollment.enrollDevice("pi-1", Map.of("site", "north"), List.of("canary"), "alice");
        enrollment.enrollDevice("pi-gone", Map.of("site", "south"), List.of(), "alice");
        enrollment.revokeDevice("pi-gone", "alice");
        enrollment.addUser("grafana", "monitor", "alice");
    }

    @AfterEach
    void close() {
        identities.close();
        store.close();
    }

    /** What is asked of the enrollment, and what it refuses with. */
    static Stream<Arguments> refusals() {
        return Stream.of(
                arguments("enroll a device enrolled already", (Consumer<Enrollment>) e -> e.enrollDevice("pi-1", null, null, "bob"),
                        ConflictException.class, "device pi-1 is already enrolled"),
                arguments("enroll a monitor's name", (Consumer<Enrollment>) e -> e.enrollDevice("grafana", null, null, "bob"),
                        ConflictException.class, "already a broker identity"),
                arguments("enroll the orchestrator's name", (Consumer<Enrollment>) e -> e.enrollDevice(ORCHESTRATOR, null, null, "bob"),
                        ConflictException.class, "reserved for the orchestrator"),
                arguments("enroll another orchestrator's name",
                        (Consumer<Enrollment>) e -> e.enrollDevice("turnout-orchestrator-b", null, null, "bob"),
                        ConflictException.class, "reserved for the orchestrator"),
                arguments("enroll a topic wildcard", (Consumer<Enrollment>) e -> e.enrollDevice("pi+", null, null, "bob"),
                        InvalidInputException.class, "device id 'pi+' is invalid"),
                arguments("enroll a topic level", (Consumer<Enrollment>) e -> e.enrollDevice("a/b", null, null, "bob"),
                        InvalidInputException.class, "device id 'a/b' is invalid"),
                arguments("enroll a control character", (Consumer<Enrollment>) e -> e.enrollDevice("pi\u0007", null, null, "bob"),
                        InvalidInputException.class, "is invalid"),
                arguments("enroll without an id", (Consumer<Enrollment>) e -> e.enrollDevice(null, null, null, "bob"),
                        InvalidInputException.class, "device id 'null' is invalid"),
                arguments("revoke a device never enrolled", (Consumer<Enrollment>) e -> e.revokeDevice("pi-9", "bob"),
                        NotFoundException.class, "device pi-9 is not enrolled"),
                arguments("add a user of another role", (Consumer<Enrollment>) e -> e.addUser("ops", "admin", "bob"),
                        InvalidInputException.class, "role 'admin' is unknown: use monitor"),
                arguments("add a user with a device's name", (Consumer<Enrollment>) e -> e.addUser("pi-1", "monitor", "bob"),
                        ConflictException.class, "already a broker identity"),
                arguments("add a user with a revoked device's name", (Consumer<Enrollment>) e -> e.addUser("pi-gone", "monitor", "bob"),
                        ConflictException.class, "the name pi-gone belongs to an enrolled device"),
                arguments("add a user twice", (Consumer<Enrollment>) e -> e.addUser("grafana", "monitor", "bob"),
                        ConflictException.class, "already a broker identity"),
                arguments("revoke a device as a user", (Consumer<Enrollment>) e -> e.revokeUser("pi-1", "bob"),
                        InvalidInputException.class, "pi-1 is a device: use `turnout device revoke pi-1`"),
                arguments("revoke an unknown user", (Consumer<Enrollment>) e -> e.revokeUser("nobody", "bob"),
                        NotFoundException.class, "no user nobody"),
                arguments("enroll with a label a target cannot name",
                        (Consumer<Enrollment>) e -> e.enrollDevice("pi-5", Map.of("a=b", "c"), null, "bob"),
                        InvalidInputException.class, "label key 'a=b' is invalid"),
                arguments("enroll with a group a target cannot name",
                        (Consumer<Enrollment>) e -> e.enrollDevice("pi-5", null, List.of("north yard"), "bob"),
                        InvalidInputException.class, "group 'north yard' is invalid"),
                arguments("relabel a device never enrolled",
                        (Consumer<Enrollment>) e -> e.relabelDevice("pi-9", Map.of("site", "x"), null, "bob"),
                        NotFoundException.class, "device pi-9 is not enrolled"),
                arguments("regroup a device never enrolled",
                        (Consumer<Enrollment>) e -> e.regroupDevice("pi-9", List.of("yard"), null, "bob"),
                        NotFoundException.class, "device pi-9 is not enrolled"),
                arguments("relabel with the enrollment's rules",
                        (Consumer<Enrollment>) e -> e.relabelDevice("pi-1", Map.of("site", " x"), null, "bob"),
                        InvalidInputException.class, "label site has whitespace around its value"),
                arguments("regroup with the enrollment's rules",
                        (Consumer<Enrollment>) e -> e.regroupDevice("pi-1", List.of("a:b"), null, "bob"),
                        InvalidInputException.class, "group 'a:b' is invalid"),
                arguments("relabel with nothing to do",
                        (Consumer<Enrollment>) e -> e.relabelDevice("pi-1", Map.of(), List.of(), "bob"),
                        InvalidInputException.class, "no label to set or remove"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refusals")
    void refusesWhatWouldMakeOneNameTwoThingsAndChangesNothing(String what, Consumer<Enrollment> act,
                                                               Class<? extends RuntimeException> refusal, String message) {
        List<Enrollment.User> before = enrollment.users();
        int audited = store.audit(100).size();

        assertThatThrownBy(() -> act.accept(enrollment)).isInstanceOf(refusal).hasMessageContaining(message);

        assertThat(enrollment.users()).isEqualTo(before);
        assertThat(store.audit(100)).hasSize(audited);
        assertThat(store.findDevice("pi-1").orElseThrow().labels()).isEqualTo(Map.of("site", "north"));
        assertThat(store.findDevice("pi-1").orElseThrow().groups()).containsExactly("canary");
        assertThat(store.findDevice("pi-5")).isEmpty();
    }

    @Test
    void labelsAndGroupsChangeInTheStoreAndTheAuditTrailSaysWhoChangedWhatFromWhat() {
        Enrollment.Retagged relabeled = enrollment.relabelDevice("pi-1", Map.of("site", "south", "tier", "2"), List.of(), "carol");

        assertThat(relabeled.changed()).isTrue();
        assertThat(relabeled.before().labels()).isEqualTo(Map.of("site", "north"));
        assertThat(store.findDevice("pi-1").orElseThrow().labels()).isEqualTo(Map.of("site", "south", "tier", "2"));
        assertThat(store.auditAbout("pi-1", 1)).singleElement().satisfies(e -> {
            assertThat(e.action()).isEqualTo("device.labels");
            assertThat(e.actor()).isEqualTo("carol");
            assertThat(e.detail()).isEqualTo("labels {site=north} -> {site=south, tier=2}");
        });

        enrollment.relabelDevice("pi-1", null, List.of("tier", "never-there"), "carol");
        assertThat(store.findDevice("pi-1").orElseThrow().labels()).isEqualTo(Map.of("site", "south"));

        Enrollment.Retagged regrouped = enrollment.regroupDevice("pi-1", List.of("yard", "yard"), List.of("canary"), "dave");
        assertThat(regrouped.after().groups()).containsExactly("yard");
        assertThat(store.findDevice("pi-1").orElseThrow().groups()).containsExactly("yard");
        assertThat(store.auditAbout("pi-1", 1)).singleElement().satisfies(e -> {
            assertThat(e.action()).isEqualTo("device.groups");
            assertThat(e.actor()).isEqualTo("dave");
            assertThat(e.detail()).isEqualTo("groups [canary] -> [yard]");
        });

        // a change that changes nothing says so and writes nothing
        int audited = store.audit(100).size();
        assertThat(enrollment.regroupDevice("pi-1", List.of("yard"), null, "dave").changed()).isFalse();
        assertThat(store.audit(100)).hasSize(audited);
        // a revoked device keeps its inventory entry, so its labels can still change
        assertThat(enrollment.relabelDevice("pi-gone", Map.of("site", "west"), null, "dave").changed()).isTrue();
    }

    @Test
    void aRevokedDeviceComesBackWithANewSecretAndItsInventoryEntry() {
        Enrollment.EnrolledDevice again = enrollment.enrollDevice("pi-gone", Map.of("site", "elsewhere"), List.of("x"), "bob");

        assertThat(again.again()).isTrue();
        assertThat(again.device().labels()).isEqualTo(Map.of("site", "south"));
        assertThat(access.authenticate("pi-gone", again.secret().getBytes(StandardCharsets.UTF_8))).contains(Role.DEVICE);
        assertThat(again.toString()).doesNotContain(again.secret());
        assertThat(store.auditAbout("pi-gone", 10)).extracting(AuditEntry::action, AuditEntry::actor)
                .contains(org.assertj.core.groups.Tuple.tuple("device.reenroll", "bob"));
    }

    @Test
    void revokingTwiceTellsTheSecondTimeAndAuditsOnce() {
        assertThat(enrollment.revokeDevice("pi-1", "bob")).isTrue();
        assertThat(enrollment.revokeDevice("pi-1", "bob")).isFalse();
        assertThat(store.auditAbout("pi-1", 10)).filteredOn(e -> e.action().equals("device.revoke")).hasSize(1);
    }

    @Test
    void usersListTheOrchestratorFirstThenEveryIdentityByName() {
        assertThat(enrollment.users()).extracting(Enrollment.User::name, Enrollment.User::role).containsExactly(
                org.assertj.core.groups.Tuple.tuple(ORCHESTRATOR, Role.ORCHESTRATOR),
                org.assertj.core.groups.Tuple.tuple("grafana", Role.MONITOR),
                org.assertj.core.groups.Tuple.tuple("pi-1", Role.DEVICE));

        enrollment.revokeUser("grafana", "bob");

        assertThat(enrollment.users()).extracting(Enrollment.User::name).containsExactly(ORCHESTRATOR, "pi-1");
        assertThat(store.auditAbout("grafana", 10)).extracting(AuditEntry::action).contains("user.add", "user.revoke");
    }
}
