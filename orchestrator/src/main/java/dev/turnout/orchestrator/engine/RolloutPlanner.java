package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.Target;
import dev.turnout.orchestrator.domain.WaveState;
import dev.turnout.orchestrator.policy.RollbackTargets;
import dev.turnout.orchestrator.policy.WavePolicy;
import dev.turnout.orchestrator.port.DeviceRegistry;
import dev.turnout.orchestrator.port.RolloutStore;

import dev.turnout.proto.rules.SemVer;

import java.security.SecureRandom;

import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Turns a rollout request into a planned rollout: checks it (release, target, enrolled devices),
 * puts the targeted devices into waves ({@link WavePolicy#plan}) and notes where each would go back
 * to ({@link RollbackTargets}). Stores nothing: a dry run is a plan.
 */
final class RolloutPlanner {

    private static final SecureRandom RANDOM = new SecureRandom();

    private final RolloutStore store;
    private final DeviceRegistry devices;
    private final DesiredStates desired;
    private final Clock clock;

    RolloutPlanner(RolloutStore store, DeviceRegistry devices, DesiredStates desired, Clock clock) {
        this.store = store;
        this.devices = devices;
        this.desired = desired;
        this.clock = clock;
    }

    /** A planned rollout, the ids of its devices (canaries first), its wave sizes, the inventory it was planned from and its canaries. */
    record Plan(Rollout rollout, List<String> deviceIds, List<Integer> sizes, List<Device> inventory, List<String> canary) {
    }

    /** Plans {@code request}; throws when it names no release, no enrolled device or an unknown one. */
    Plan plan(RolloutRequest request) {
        RolloutStrategy strategy = request.strategy();
        Target target = request.target();
        if (store.findRelease(request.app(), request.version()).isEmpty()) {
            throw new NotFoundException("release " + request.app() + ":" + request.version() + " does not exist");
        }
        belowFloor(request.app(), request.version(), request.strategy().rollback());
        List<Device> inventory = devices.listDevices();
        if (target.kind() == Target.Kind.DEVICE) {
            Set<String> known = new LinkedHashSet<>();
            inventory.forEach(d -> known.add(d.id()));
            for (String id : target.values()) {
                if (!known.contains(id)) {
                    throw new InvalidInputException("target names device " + id + ", which is not enrolled");
                }
            }
        }
        List<String> ids = target.select(inventory);
        if (ids.isEmpty()) {
            throw new InvalidInputException("no enrolled device matches target '" + target + "'");
        }
        ids = canaryFirst(request.canary(), ids, inventory, target);
        List<Integer> sizes = WavePolicy.withCanary(WavePolicy.plan(strategy.waves(), ids.size()), request.canary().size());
        Instant now = clock.instant();
        List<RolloutDevice> planned = new ArrayList<>();
        int at = 0;
        for (int w = 0; w < sizes.size(); w++) {
            for (int i = 0; i < sizes.get(w); i++, at++) {
                String id = ids.get(at);
                planned.add(RolloutDevice.planned(id, w + 1, previous(id, request.app())));
            }
        }
        Rollout rollout = new Rollout(newId(now), request.app(), request.version(), target.toString(), strategy, now,
                RolloutState.RUNNING, null, now, 0, WaveState.DONE, now, 0, planned);
        return new Plan(rollout, ids, sizes, inventory, request.canary());
    }

    /**
     * Refuses a rollout or rollback to a version below the app's rollback floor, naming the floor: devices would refuse
     * it (BELOW_FLOOR), so nothing is signed or sent.
     */
    private void belowFloor(String app, String version, boolean rollback) {
        store.findFloor(app).ifPresent(floor -> {
            if (SemVer.compare(version, floor) < 0) {
                throw new ConflictException((rollback ? "rollback to " : "deploy of ") + app + ":" + version
                        + " is below the rollback floor " + floor + " of " + app + " (turnout app floor); choose " + floor
                        + " or newer");
            }
        });
    }

    /**
     * The targeted ids with the canaries first (in the order given), then the others by id; refuses
     * canaries that are not enrolled or not targeted, naming them.
     */
    static List<String> canaryFirst(List<String> canary, List<String> targeted, List<Device> inventory, Target target) {
        if (canary.isEmpty()) {
            return targeted;
        }
        Set<String> enrolled = new LinkedHashSet<>();
        inventory.forEach(d -> enrolled.add(d.id()));
        Set<String> selected = new LinkedHashSet<>(targeted);
        List<String> unknown = canary.stream().filter(id -> !enrolled.contains(id)).toList();
        List<String> outside = canary.stream().filter(id -> enrolled.contains(id) && !selected.contains(id)).toList();
        if (!unknown.isEmpty() || !outside.isEmpty()) {
            List<String> why = new ArrayList<>();
            if (!unknown.isEmpty()) {
                why.add(String.join(", ", unknown) + (unknown.size() == 1 ? " is" : " are") + " not enrolled");
            }
            if (!outside.isEmpty()) {
                why.add(String.join(", ", outside) + (outside.size() == 1 ? " is" : " are") + " not among the devices target '"
                        + target + "' selects");
            }
            throw new InvalidInputException("canary must be targeted devices: " + String.join("; ", why));
        }
        List<String> ordered = new ArrayList<>(canary);
        targeted.stream().filter(id -> !canary.contains(id)).forEach(ordered::add);
        return ordered;
    }

    /**
     * The unfinished rollouts of the plan's app that hold some of its devices (also ones other
     * orchestrators drive). Unless the request supersedes them, the plan is refused, naming the way out.
     */
    List<Rollout> overlapping(Plan plan, boolean supersede) {
        Rollout rollout = plan.rollout();
        Set<String> ids = new java.util.HashSet<>(plan.deviceIds());
        List<Rollout> held = new ArrayList<>();
        for (Rollout other : store.activeRollouts()) {
            if (other.app().equals(rollout.app()) && other.devices().stream().anyMatch(d -> ids.contains(d.deviceId()))) {
                held.add(other);
            }
        }
        if (!held.isEmpty() && !supersede) {
            Rollout other = held.get(0);
            throw new ConflictException("rollout " + other.id() + " of " + other.app() + ":" + other.version() + " is still "
                    + other.state() + " on some of these devices; abort it first, or replace it with this one: deploy --supersede"
                    + " (API: \"supersede\": true)");
        }
        return held;
    }

    /** A device enrolled after {@code r} started, planned into its last wave. */
    RolloutDevice joining(Rollout r, String deviceId) {
        return RolloutDevice.planned(deviceId, r.waveCount(), previous(deviceId, r.app()));
    }

    /** What a device goes back to on rollback: the release it last ran healthy, from its last report ({@link RollbackTargets}). */
    private DesiredApp previous(String deviceId, String app) {
        DeviceApp report = devices.deviceApps(deviceId).stream().filter(a -> a.app().equals(app)).findFirst().orElse(null);
        return RollbackTargets.previous(app, desired.current(deviceId, app), report,
                version -> store.findRelease(app, version).isPresent());
    }

    private static String newId(Instant now) {
        StringBuilder b = new StringBuilder("r-").append(Long.toString(now.toEpochMilli(), 36));
        for (int i = 0; i < 4; i++) {
            b.append(Character.forDigit(RANDOM.nextInt(36), 36));
        }
        return b.toString();
    }
}
