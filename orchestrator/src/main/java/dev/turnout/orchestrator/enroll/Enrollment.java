package dev.turnout.orchestrator.enroll;

import dev.turnout.broker.Role;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * Who may join the fleet and its broker: devices enrolled with a broker secret of their own,
 * monitor users, and the revocation of both. Secrets are returned once and stored only as hashes;
 * every change goes to the audit trail under the actor given.
 *
 * <p>Refusals are exceptions the HTTP API maps to status codes: {@link InvalidInputException}
 * (malformed), {@link ConflictException} (taken or reserved), {@link NotFoundException} (unknown).
 */
public interface Enrollment {

    /** A device enrolled, or admitted again after a revocation ({@code again}), with its new broker secret. */
    record EnrolledDevice(Device device, String secret, boolean again) {
        @Override
        public String toString() {
            return "EnrolledDevice[" + device.id() + (again ? ", again" : "") + "]";
        }
    }

    /** A broker user: the orchestrator itself ({@code createdAt} null), a device or a monitor. */
    record User(String name, Role role, Instant createdAt) {
    }

    /** A monitor user and its broker secret, shown once. */
    record IssuedUser(String name, String secret) {
        @Override
        public String toString() {
            return "IssuedUser[" + name + "]";
        }
    }

    /**
     * Enrolls device {@code id} with a new broker secret. A device that was revoked, or enrolled
     * before broker credentials existed, keeps its inventory entry (labels and groups) and gets a new secret.
     */
    EnrolledDevice enrollDevice(String id, Map<String, String> labels, List<String> groups, String actor);

    /** A device's labels or groups as they were and as they are now ({@code changed} false: the change changed nothing). */
    record Retagged(Device before, Device after) {
        public boolean changed() {
            return !before.labels().equals(after.labels()) || !before.groups().equals(after.groups());
        }
    }

    /**
     * Sets the labels of {@code set} on an enrolled device and removes the keys of {@code remove}
     * (rules: {@link dev.turnout.orchestrator.domain.DeviceTags}); targets see the change at once.
     * Audited as {@code device.labels} (old → new) when something changed.
     */
    Retagged relabelDevice(String id, Map<String, String> set, List<String> remove, String actor);

    /** Adds an enrolled device to the groups of {@code add} and takes it out of those of {@code remove}; audited as {@code device.groups}. */
    Retagged regroupDevice(String id, List<String> add, List<String> remove, String actor);

    /** Revokes the broker identity of an enrolled device; false when it was revoked already. */
    boolean revokeDevice(String id, String actor);

    /** Creates a monitor user ({@code role} must be {@code monitor}) whose name no device or user has. */
    IssuedUser addUser(String name, String role, String actor);

    /** Every broker user, the orchestrator first, then by name. */
    List<User> users();

    /** Revokes a monitor user; devices are revoked with {@link #revokeDevice}. */
    void revokeUser(String name, String actor);
}
