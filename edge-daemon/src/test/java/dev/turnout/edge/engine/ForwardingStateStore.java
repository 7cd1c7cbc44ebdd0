package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.port.StateStore;
import dev.turnout.proto.rules.TrustMark;

import java.util.List;
import java.util.Optional;

/** A store that passes every call to {@code disk}: a test overrides the calls its fault concerns. */
abstract class ForwardingStateStore implements StateStore {

    protected final StateStore disk;

    ForwardingStateStore(StateStore disk) {
        this.disk = disk;
    }

    @Override
    public TrustMark loadTrust() {
        return disk.loadTrust();
    }

    @Override
    public void saveTrust(TrustMark mark) {
        disk.saveTrust(mark);
    }

    @Override
    public Optional<AppRecord> loadApp(String app) {
        return disk.loadApp(app);
    }

    @Override
    public List<AppRecord> loadApps() {
        return disk.loadApps();
    }

    @Override
    public void saveApp(AppRecord record) {
        disk.saveApp(record);
    }

    @Override
    public List<byte[]> loadRotatedKeys() {
        return disk.loadRotatedKeys();
    }

    @Override
    public void saveRotatedKeys(List<byte[]> rawKeys) {
        disk.saveRotatedKeys(rawKeys);
    }
}
