package dev.turnout.orchestrator.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;

/** {@code turnout bundle export APP:VERSION [--against OLDVERSION] --out FILE}: a release for devices without network. */
@Command(name = "bundle", description = "Offline bundles: a release on a USB stick for devices without network.",
        subcommands = {BundleCommand.Export.class})
final class BundleCommand {

    @Command(name = "export", description = "Write a signed bundle of a release (import it with `turnout-edge cache import FILE`).")
    static final class Export implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "APP:VERSION", converter = AppVersion.Converter.class)
        AppVersion release;

        @Option(names = "--against", paramLabel = "OLDVERSION", description = "Only what changed since OLDVERSION of the app,"
                + " for devices that hold it: its layers are left out, changed layers go in as deltas where they can.")
        String against;

        @Option(names = "--out", required = true, paramLabel = "FILE", description = "Where to write the bundle (.tar).")
        Path out;

        Export(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            Path dir = out.toAbsolutePath().getParent();
            if (dir == null || !Files.isDirectory(dir) || !Files.isWritable(dir)) {
                throw new CliException("cannot write " + out + ": " + dir + " is not a writable directory");
            }
            if (against != null && !dev.turnout.proto.rules.SemVer.isWellFormed(against)) {
                throw new CliException("--against '" + against + "' is not a semantic version such as 1.4.2");
            }
            String query = against == null ? "" : "?against=" + java.net.URLEncoder.encode(against, java.nio.charset.StandardCharsets.UTF_8);
            long size = cli.api().download("/api/v1/releases/" + release.path() + "/bundle" + query, out);
            if (cli.jsonOutput()) {
                java.util.Map<String, Object> json = new java.util.LinkedHashMap<>();
                json.put("release", release.toString());
                if (against != null) {
                    json.put("against", against);
                }
                json.put("file", out.toString());
                json.put("size", size);
                cli.printJson(json);
                return;
            }
            cli.out.printf("wrote %s (%s%s, %.1f MiB); on a device: turnout-edge cache import %s --config /etc/turnout/edge.yaml%n",
                    out, release, against == null ? "" : ", only what changed since " + against + ": the device must hold it",
                    size / 1048576.0, out.getFileName());
        }
    }
}
