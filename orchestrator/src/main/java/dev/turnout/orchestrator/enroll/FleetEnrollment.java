package dev.turnout.orchestrator.enroll;

import dev.turnout.broker.Role;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceTags;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.security.BrokerAccess;
import dev.turnout.orchestrator.security.Names;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.proto.Topics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * Enrollment over the device inventory of the {@link FleetStore} and the broker identities of
 * {@link BrokerAccess}, kept in step: one name is a device or a monitor, never both.
 */
public final class FleetEnrollment implements Enrollment {

    private static final Logger LOG = LoggerFactory.getLogger(FleetEnrollment.class);

    private final FleetStore store;
    private final BrokerAccess access;
    private final Clock clock;
    /** Held while a name is checked and issued, so that two callers never take the same one. */
    private final Object issuing = new Object();

    public FleetEnrollment(FleetStore store, BrokerAccess access, Clock clock) {
        this.store = Objects.requireNonNull(store, "store");
        this.access = Objects.requireNonNull(access, "access");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    @Override
    public EnrolledDevice enrollDevice(String id, Map<String, String> labels, List<String> groups, String actor) {
        if (id == null || !Topics.isValidId(id) || !Names.isValid(id)) {
            throw new InvalidInputException("device id '" + id
                    + "' is invalid: use 1-64 letters, digits, '.', '_' or '-' (no '+', '#', '/', whitespace or control characters)");
        }
        Device device = new Device(id, DeviceTags.checkLabels(labels), DeviceTags.checkGroups(groups), clock.instant(), false,
                null, null);
        BrokerAccess.Issued credentials;
        boolean again = false;
        BrokerAccess.NewSecret secret = BrokerAccess.newSecret(); // the slow hash, outside the lock: enrollments run in parallel
        synchronized (issuing) {
            Device known = store.findDevice(id).orElse(null);
            if (known != null && access.find(known.id()).isPresent()) {
                throw new ConflictException("device " + id + " is already enrolled");
            }
            access.checkIssuable(id);
            if (known == null) {
                store.insertDevice(device);
            } else {
                // revoked, or enrolled before broker credentials existed: a new secret, same inventory entry
                device = known;
                again = true;
            }
            credentials = access.issue(id, Role.DEVICE, secret);
        }
        store.appendAudit(new AuditEntry(clock.instant(), actor, again ? "device.reenroll" : "device.enroll", id,
                again ? "new broker secret; labels and groups kept" : null));
        LOG.info("{} device {}", again ? "re-enrolled" : "enrolled", id);
        return new EnrolledDevice(device, credentials.secret(), again);
    }

    @Override
    public Retagged relabelDevice(String id, Map<String, String> set, List<String> remove, String actor) {
        return retag(id, actor, "device.labels", d -> new Device(d.id(), DeviceTags.relabel(d.labels(), set, remove), d.groups(),
                d.enrolledAt(), d.online(), d.lastSeen(), d.platform()));
    }

    @Override
    public Retagged regroupDevice(String id, List<String> add, List<String> remove, String actor) {
        return retag(id, actor, "device.groups", d -> new Device(d.id(), d.labels(), DeviceTags.regroup(d.groups(), add, remove),
                d.enrolledAt(), d.online(), d.lastSeen(), d.platform()));
    }

    /** Checks and applies one change of a device's labels or groups and writes who changed what from what (unless nothing changed). */
    private Retagged retag(String id, String actor, String action, UnaryOperator<Device> change) {
        Retagged retagged;
        synchronized (issuing) { // one change at a time: two operators' changes never overwrite each other here
            Device before = store.findDevice(id).orElseThrow(() -> new NotFoundException("device " + id + " is not enrolled"));
            Device after = change.apply(before);
            retagged = new Retagged(before, after);
            if (retagged.changed() && !store.updateDeviceTags(id, after.labels(), after.groups())) {
                throw new NotFoundException("device " + id + " is not enrolled");
            }
        }
        if (retagged.changed()) {
            String detail = action.equals("device.labels")
                    ? "labels " + DeviceTags.describe(retagged.before().labels()) + " -> " + DeviceTags.describe(retagged.after().labels())
                    : "groups " + retagged.before().groups() + " -> " + retagged.after().groups();
            store.appendAudit(new AuditEntry(clock.instant(), actor, action, id, detail));
            LOG.info("{} changed device {}: {}", actor, id, detail);
        }
        return retagged;
    }

    @Override
    public boolean revokeDevice(String id, String actor) {
        store.findDevice(id).orElseThrow(() -> new NotFoundException("device " + id + " is not enrolled"));
        boolean revoked = access.revoke(id);
        if (revoked) {
            store.appendAudit(new AuditEntry(clock.instant(), actor, "device.revoke", id, null));
        }
        return revoked;
    }

    @Override
    public IssuedUser addUser(String name, String role, String actor) {
        if (!"monitor".equalsIgnoreCase(role)) {
            throw new InvalidInputException("role '" + role + "' is unknown: use monitor"
                    + " (devices get their credentials at enrollment)");
        }
        BrokerAccess.Issued issued;
        synchronized (issuing) {
            access.checkIssuable(name);
            if (store.findDevice(name).isPresent()) {
                throw new ConflictException("the name " + name + " belongs to an enrolled device");
            }
            issued = access.issue(name, Role.MONITOR);
        }
        store.appendAudit(new AuditEntry(clock.instant(), actor, "user.add", issued.name(), "role=monitor"));
        return new IssuedUser(issued.name(), issued.secret());
    }

    @Override
    public List<User> users() {
        List<User> users = new ArrayList<>();
        users.add(new User(access.orchestrator().name(), Role.ORCHESTRATOR, null));
        access.identities().forEach(identity -> users.add(new User(identity.name(), identity.role(), identity.createdAt())));
        return users;
    }

    @Override
    public void revokeUser(String name, String actor) {
        Role role = access.find(name).orElseThrow(() -> new NotFoundException("no user " + name)).role();
        if (role != Role.MONITOR) {
            throw new InvalidInputException(name + " is a device: use `turnout device revoke " + name + "`");
        }
        access.revoke(name);
        store.appendAudit(new AuditEntry(clock.instant(), actor, "user.revoke", name, null));
    }
}
