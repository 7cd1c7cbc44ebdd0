package dev.turnout.orchestrator.cli;

import dev.turnout.orchestrator.backup.BackupArchive;
import dev.turnout.orchestrator.backup.BackupManifest;
import dev.turnout.orchestrator.backup.InvalidBackupException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code turnout restore FILE --data DIR [--force]}: a backup into a new data directory, offline (docs/operations.md). */
@Command(name = "restore", description = {"Restore a backup of `turnout backup` into a data directory, with no server running on it. "
        + "Every file is checked against the SHA-256 in the backup's manifest before anything is written; a damaged or truncated "
        + "backup is refused and DIR is left as it was. DIR must be new or empty unless --force."})
final class RestoreCommand implements Runnable {

    private final Cli cli;

    @Parameters(index = "0", paramLabel = "FILE", description = "The backup (.tar.gz).")
    Path file;

    @Option(names = "--data", required = true, paramLabel = "DIR", description = "The data directory to restore into (created if missing).")
    Path data;

    @Option(names = "--force", description = "Restore into a directory that is not empty: its contents are moved aside to "
            + "DIR.replaced-TIMESTAMP (never deleted).")
    boolean force;

    RestoreCommand(Cli cli) {
        this.cli = cli;
    }

    @Override
    public void run() {
        BackupArchive.Restored r;
        try {
            r = BackupArchive.restore(file, data, force, Instant.now());
        } catch (InvalidBackupException e) {
            throw new CliException(e.getMessage() + "; " + data + " was not changed");
        } catch (IOException e) {
            throw new CliException("cannot restore " + file + " into " + data + ": " + e.getMessage());
        }
        BackupManifest m = r.manifest();
        if (cli.jsonOutput()) {
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("dataDir", r.dataDir().toString());
            v.put("files", m.files().size());
            v.put("createdAt", m.createdAt());
            v.put("signingKeyId", m.signingKeyId());
            v.put("fleetStore", m.fleetStore());
            v.put("artifactsIncluded", m.artifactsIncluded());
            v.put("setAside", r.setAside() == null ? null : r.setAside().toString());
            cli.printJson(v);
        } else {
            cli.out.printf("restored %d files (%d bytes) of the backup taken at %s into %s (signing key %s)%n", m.files().size(),
                    m.totalBytes(), m.createdAt(), r.dataDir(), m.signingKeyId());
            if (r.setAside() != null) {
                cli.out.printf("what %s held before is now in %s%n", data, r.setAside());
            }
            cli.out.printf("start the server on it: turnout server --data %s%n", data);
        }
        if (!m.artifactsIncluded()) {
            cli.err.println("note: the backup has no image archives; upload the releases' images again before deploying them");
        }
        if (BackupManifest.POSTGRESQL.equals(m.fleetStore())) {
            cli.err.println("note: the fleet store was PostgreSQL and is not in the backup: restore it from its pg_dump and start the"
                    + " server with the same --store-url");
        }
    }
}
