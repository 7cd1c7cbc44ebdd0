package dev.turnout.orchestrator.cli;

import dev.turnout.orchestrator.backup.BackupArchive;
import dev.turnout.orchestrator.backup.BackupManifest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code turnout backup --out FILE [--no-artifacts]}: a consistent backup of the running server (docs/operations.md). */
@Command(name = "backup", description = {"Back up the running server: its store (turnout.db, a consistent snapshot), signing key, "
        + "operator token, broker identities and secret, TLS CA and every image archive, into one gzipped tar. "
        + "FILE is written mode 0600, whole or not at all, and only after every file in it was checked against its SHA-256. "
        + "It holds every secret of the fleet: keep it like the data directory. Restore with `turnout restore`."})
final class BackupCommand implements Runnable {

    private final Cli cli;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Where to write the backup (a .tar.gz; replaced if it exists).")
    Path out;

    @Option(names = "--no-artifacts", description = "Leave the image archives out (smaller; releases then need their images uploaded "
            + "again after a restore before they can be deployed).")
    boolean noArtifacts;

    BackupCommand(Cli cli) {
        this.cli = cli;
    }

    @Override
    public void run() {
        Path dir = out.toAbsolutePath().getParent();
        if (dir != null && !Files.isDirectory(dir)) {
            throw new CliException("cannot write " + out + ": its directory does not exist");
        }
        BackupManifest m = cli.api().downloadPrivate("/api/v1/backup" + (noArtifacts ? "?artifacts=false" : ""), out,
                file -> {
                    try {
                        return BackupArchive.verify(file);
                    } catch (java.io.IOException e) {
                        throw new java.io.IOException("the server's answer is not a whole backup: " + e.getMessage(), e);
                    }
                });
        long bytes = sizeOf(out);
        if (cli.jsonOutput()) {
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("file", out.toAbsolutePath().toString());
            v.put("bytes", bytes);
            v.put("createdAt", m.createdAt());
            v.put("signingKeyId", m.signingKeyId());
            v.put("fleetStore", m.fleetStore());
            v.put("artifactsIncluded", m.artifactsIncluded());
            v.put("files", m.files());
            cli.printJson(v);
        } else {
            cli.out.printf("wrote %s: %d files (%d bytes), signing key %s, taken at %s%n", out.toAbsolutePath(), m.files().size(),
                    bytes, m.signingKeyId(), m.createdAt());
            cli.out.printf("restore it with: turnout restore %s --data DIR%n", out);
        }
        if (!m.artifactsIncluded()) {
            cli.err.println("note: the image archives are not in this backup; after a restore, upload the releases' images again"
                    + " before deploying them");
        }
        if (BackupManifest.POSTGRESQL.equals(m.fleetStore())) {
            cli.err.println("note: the fleet store is PostgreSQL and is NOT in this backup (only the broker identities are): back it up"
                    + " with pg_dump (docs/operations.md, \"Backup and restore\")");
        }
    }

    private static long sizeOf(Path file) {
        try {
            return Files.size(file);
        } catch (java.io.IOException e) {
            return -1;
        }
    }
}
