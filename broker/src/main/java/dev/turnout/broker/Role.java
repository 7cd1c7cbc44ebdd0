package dev.turnout.broker;

/** What an authenticated MQTT identity is allowed to be. Stored by name, never by ordinal. */
public enum Role {
    /** One device: publishes its own status, health and presence; reads its own desired state. */
    DEVICE,
    /** The orchestrator: publishes desired states and rollout events, reads every device report. */
    ORCHESTRATOR,
    /** A monitoring subscriber: reads status, health, presence and rollout events; publishes nothing. */
    MONITOR
}
