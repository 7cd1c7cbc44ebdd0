package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.Target;
import dev.turnout.orchestrator.port.DeviceRegistry;
import dev.turnout.orchestrator.port.RolloutStore;
import dev.turnout.proto.UpdateState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code turnout app remove}: signs, for each targeted device that has the app, a desired state whose entry for it is
 * a {@link DesiredApp#removal removal} (the device stops and removes its containers and images and reports REMOVED).
 * The entry stays in the device's desired state until the app is deployed again, so every later desired state says
 * so too. Refused while an unfinished rollout of the app holds one of the devices. Stored and audited before anything
 * is published.
 */
public final class AppRemovals {

    private static final Logger LOG = LoggerFactory.getLogger(RolloutEngine.class);

    private final RolloutStore store;
    private final DeviceRegistry devices;
    private final DesiredStates desired;
    private final Journal journal;

    AppRemovals(RolloutStore store, DeviceRegistry devices, DesiredStates desired, Journal journal) {
        this.store = store;
        this.devices = devices;
        this.desired = desired;
        this.journal = journal;
    }

    /**
     * What a removal decided.
     *
     * @param devices        devices sent a removal now
     * @param alreadyRemoved targeted devices whose desired state removes the app already (nothing sent)
     */
    public record Removal(String app, String target, List<String> devices, List<String> alreadyRemoved) {
    }

    Removal remove(String app, Target target, String actor) {
        return remove(app, target, actor, false, null);
    }

    /**
     * As {@link #remove(String, Target, String)}; {@code force}: devices remove the app even while it holds its update lock;
     * {@code lockTimeout}: how long they wait for the lock (null: each device's own). A device already told to remove
     * the app the same way is told nothing; told another way (now forced), it gets the new entry.
     */
    Removal remove(String app, Target target, String actor, boolean force, java.time.Duration lockTimeout) {
        if (app == null || app.isBlank()) {
            throw new InvalidInputException("an app name is required");
        }
        List<Device> inventory = devices.listDevices();
        if (target.kind() == Target.Kind.DEVICE) {
            Set<String> known = new HashSet<>();
            inventory.forEach(d -> known.add(d.id()));
            for (String id : target.values()) {
                if (!known.contains(id)) {
                    throw new InvalidInputException("target names device " + id + ", which is not enrolled");
                }
            }
        }
        List<String> selected = target.select(inventory);
        if (selected.isEmpty()) {
            throw new InvalidInputException("no enrolled device matches target '" + target + "'");
        }
        List<String> toRemove = new ArrayList<>();
        List<String> alreadyRemoved = new ArrayList<>();
        for (String id : selected) {
            DesiredApp entry = desired.current(id, app);
            if (entry != null && entry.removes() && entry.equals(DesiredApp.removal(app, force, lockTimeoutMs(lockTimeout)))) {
                alreadyRemoved.add(id);
            } else if (entry != null || reportsApp(id, app)) {
                toRemove.add(id);
            }
        }
        if (toRemove.isEmpty() && alreadyRemoved.isEmpty()) {
            throw new NotFoundException("no device of target '" + target + "' has app " + app);
        }
        Set<String> removing = new HashSet<>(toRemove);
        for (Rollout r : store.activeRollouts()) {
            if (r.app().equals(app) && r.devices().stream().anyMatch(d -> removing.contains(d.deviceId()))) {
                throw new ConflictException("rollout " + r.id() + " of " + r.app() + ":" + r.version() + " is still " + r.state()
                        + " on some of these devices; abort it first (turnout rollout abort " + r.id() + ")");
            }
        }
        if (toRemove.isEmpty()) {
            return new Removal(app, target.toString(), List.of(), alreadyRemoved);
        }
        store.inTransaction(() -> {
            List<DesiredStates.Decision> decisions = new ArrayList<>();
            for (String id : toRemove) {
                decisions.add(desired.commit(id, app, DesiredApp.removal(app, force, lockTimeoutMs(lockTimeout))));
            }
            journal.audit(actor, "app.remove", app, "target " + target + (force ? ", forced (ignores the update lock)" : "")
                    + (lockTimeout != null ? ", lock timeout " + lockTimeout.toSeconds() + " s" : "") + ": " + String.join(",", toRemove));
            store.afterCommit(() -> decisions.forEach(desired::publish));
        });
        LOG.info("removing {} from {} devices (target {}) for {}", app, toRemove.size(), target, actor);
        return new Removal(app, target.toString(), List.copyOf(toRemove), alreadyRemoved);
    }

    private static long lockTimeoutMs(java.time.Duration lockTimeout) {
        return lockTimeout == null ? 0 : lockTimeout.toMillis();
    }

    /** The device's last report about the app says it has something of it (not removed, not refused). */
    private boolean reportsApp(String deviceId, String app) {
        for (DeviceApp a : devices.deviceApps(deviceId)) {
            if (a.app().equals(app)) {
                return !UpdateState.REMOVED.name().equals(a.state());
            }
        }
        return false;
    }
}
