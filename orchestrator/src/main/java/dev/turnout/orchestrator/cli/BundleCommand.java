package dev.turnout.orchestrator.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;

/** {@code turnout bundle export APP:VERSION --out FILE}: a release for devices without network. */
@Command(name = "bundle", description = "Offline bundles: a release on a USB stick for devices without network.",
        subcommands = {BundleCommand.Export.class})
final class BundleCommand {

    @Command(name = "export", description = "Write a signed bundle of a release (import it with `turnout-edge cache import FILE`).")
    static final class Export implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "APP:VERSION", converter = AppVersion.Converter.class)
        AppVersion release;

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
            long size = cli.api().download("/api/v1/releases/" + release.path() + "/bundle", out);
            if (cli.jsonOutput()) {
                cli.printJson(java.util.Map.of("release", release.toString(), "file", out.toString(), "size", size));
                return;
            }
            cli.out.printf("wrote %s (%s, %.1f MiB); on a device: turnout-edge cache import %s --config /etc/turnout/edge.yaml%n",
                    out, release, size / 1048576.0, out.getFileName());
        }
    }
}
