package dev.turnout.broker;

import java.util.Objects;

/**
 * One line of an identity's topic rules as a broker checks them itself (HiveMQ's default permissions): a topic
 * filter, what it covers and whether it allows or denies. An identity's grants are read in order and the first
 * line that covers a publish or subscription decides; nothing covered means denied. Built by
 * {@link TopicPolicy#grants(Role, String)}.
 *
 * @param filter  an MQTT topic filter ({@code +} and {@code #} allowed), never empty
 * @param action  what the line covers
 * @param retain  which publishes the line covers; subscriptions ignore it
 * @param allowed true to allow what the line covers, false to deny it
 */
public record TopicGrant(String filter, Action action, Retain retain, boolean allowed) {

    /** What a grant covers. Stored by name, never by ordinal. */
    public enum Action {
        /** Publishing (wills included). */
        PUBLISH,
        /** Subscribing, shared subscriptions included. */
        SUBSCRIBE,
        /** Both. */
        BOTH
    }

    /** Which publishes a grant covers by their retain flag. Stored by name, never by ordinal. */
    public enum Retain {
        /** Retained or not. */
        ANY,
        /** Only publishes without the retain flag. */
        NOT_RETAINED
    }

    public TopicGrant {
        Objects.requireNonNull(filter, "filter");
        Objects.requireNonNull(action, "action");
        Objects.requireNonNull(retain, "retain");
        if (filter.isEmpty()) {
            throw new IllegalArgumentException("a grant needs a topic filter");
        }
    }

    static TopicGrant allow(String filter, Action action, Retain retain) {
        return new TopicGrant(filter, action, retain, true);
    }

    static TopicGrant deny(String filter) {
        return new TopicGrant(filter, Action.BOTH, Retain.ANY, false);
    }
}
