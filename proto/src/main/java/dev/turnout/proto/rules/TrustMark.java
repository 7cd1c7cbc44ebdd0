package dev.turnout.proto.rules;

/**
 * The replay and clock high-water mark, persisted before any side effect of an accepted desired state.
 *
 * @param lastSequence highest desired-state sequence accepted
 * @param timeFloorMs the device never lets "now" go below this (newest issued_at accepted)
 */
public record TrustMark(long lastSequence, long timeFloorMs) {

    public static final TrustMark NONE = new TrustMark(0, 0);
}
