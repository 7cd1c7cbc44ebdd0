package dev.turnout.edge.port;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.proto.rules.TrustMark;

import java.util.List;
import java.util.Optional;

/** Crash-safe storage of the trust high-water mark and each app's record (atomic replace). */
public interface StateStore {

    TrustMark loadTrust();

    void saveTrust(TrustMark mark);

    Optional<AppRecord> loadApp(String app);

    List<AppRecord> loadApps();

    void saveApp(AppRecord record);

    /** Raw Ed25519 public keys installed by a signed key rotation; empty when the config's keys apply. */
    List<byte[]> loadRotatedKeys();

    void saveRotatedKeys(List<byte[]> rawKeys);
}
