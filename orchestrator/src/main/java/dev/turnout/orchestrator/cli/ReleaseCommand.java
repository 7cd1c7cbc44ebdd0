package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.ReleaseSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code turnout release create|list|show}. */
@Command(name = "release", description = "Create, list and show releases (an app version: image archives plus how to run them).",
        subcommands = {ReleaseCommand.Create.class, ReleaseCommand.ListReleases.class, ReleaseCommand.Show.class})
final class ReleaseCommand {

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    @Command(name = "create", description = "Upload `docker save` archives and register a release.")
    static final class Create implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "APP:VERSION", converter = AppVersion.Converter.class)
        AppVersion release;

        @Option(names = "--image", required = true, paramLabel = "PLATFORM=ARCHIVE",
                description = "A `docker save` archive for a platform such as linux/arm64 (repeatable).")
        Map<String, Path> images = new LinkedHashMap<>();

        @Option(names = "--spec", required = true, paramLabel = "FILE", description = "App spec (YAML): container settings and health check.")
        Path specFile;

        Create(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            // everything is checked before the first byte goes up
            JsonNode spec = readSpec(specFile);
            for (Map.Entry<String, Path> image : images.entrySet()) {
                Path archive = image.getValue();
                if (!Files.isRegularFile(archive) || !Files.isReadable(archive)) {
                    throw new CliException("image archive " + archive + " for " + image.getKey() + " is not a readable file");
                }
            }
            if (cli.api().find("/api/v1/releases/" + release.path()).isPresent()) {
                throw new CliException("release " + release + " exists already; releases are immutable, give it a new version");
            }
            List<Map<String, Object>> uploaded = new ArrayList<>();
            for (Map.Entry<String, Path> image : images.entrySet()) {
                if (!cli.jsonOutput()) {
                    cli.out.printf("uploading %s for %s (%s)%n", image.getValue(), image.getKey(), size(image.getValue()));
                }
                JsonNode artifact = cli.api().upload("/api/v1/artifacts", image.getValue());
                Map<String, Object> ref = new LinkedHashMap<>();
                ref.put("platform", image.getKey());
                ref.put("digest", artifact.path("digest").asText());
                uploaded.add(ref);
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("app", release.app());
            body.put("version", release.version());
            body.put("images", uploaded);
            body.put("spec", spec);
            JsonNode created = cli.api().post("/api/v1/releases", body);
            if (cli.jsonOutput()) {
                cli.printJson(created);
                return;
            }
            cli.out.printf("created release %s%n", release);
            for (JsonNode i : created.path("images")) {
                cli.out.printf("  %-14s %s  image %s%n", i.path("platform").asText(), i.path("digest").asText(), i.path("imageId").asText());
            }
        }

        private static String size(Path file) {
            try {
                long bytes = Files.size(file);
                return bytes >= 1 << 20 ? String.format("%.1f MiB", bytes / 1048576.0) : String.format("%.1f KiB", bytes / 1024.0);
            } catch (IOException e) {
                return "?";
            }
        }
    }

    /** Reads and checks an app spec file with the server's own rules; one-line errors naming the file. */
    static JsonNode readSpec(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new CliException("spec file " + file + " does not exist");
        }
        JsonNode node;
        try {
            node = YAML.readTree(file.toFile());
            if (node == null || node.isMissingNode() || !node.isObject()) {
                throw new CliException("spec " + file + ": expected a YAML mapping with `container:` and `health:`");
            }
            // parsed again from the file so errors carry their line
            YAML.readValue(file.toFile(), ReleaseSpec.class).validate();
        } catch (UnrecognizedPropertyException e) {
            String path = e.getPath().stream().map(r -> r.getFieldName() == null ? "[" + r.getIndex() + "]" : r.getFieldName())
                    .collect(java.util.stream.Collectors.joining("."));
            throw new CliException("spec " + file + ": unknown key '" + path + "'"
                    + "; known keys: " + e.getKnownPropertyIds());
        } catch (JsonProcessingException e) {
            throw new CliException("spec " + file + ": " + e.getOriginalMessage() + where(e));
        } catch (InvalidInputException e) {
            throw new CliException("spec " + file + ": " + e.getMessage());
        } catch (IOException e) {
            throw new CliException("cannot read spec " + file + ": " + e.getMessage());
        }
        return node;
    }

    private static String where(JsonProcessingException e) {
        return e.getLocation() == null || e.getLocation().getLineNr() < 1 ? "" : " (line " + e.getLocation().getLineNr() + ")";
    }

    @Command(name = "list", description = "List releases.")
    static final class ListReleases implements Runnable {
        private final Cli cli;

        ListReleases(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode answer = cli.api().get("/api/v1/releases");
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            Table table = new Table("APP", "VERSION", "PLATFORMS", "CREATED");
            for (JsonNode r : answer.path("releases")) {
                List<String> platforms = new ArrayList<>();
                r.path("images").forEach(i -> platforms.add(i.path("platform").asText()));
                table.row(r.path("app").asText(), r.path("version").asText(), String.join(",", platforms), r.path("createdAt").asText());
            }
            if (table.isEmpty()) {
                cli.out.println("no releases yet: turnout release create APP:VERSION --image PLATFORM=ARCHIVE --spec FILE");
                return;
            }
            table.print(cli.out);
        }
    }

    @Command(name = "show", description = "Show one release: images and spec.")
    static final class Show implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "APP:VERSION", converter = AppVersion.Converter.class)
        AppVersion release;

        Show(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode r = cli.api().get("/api/v1/releases/" + release.path());
            if (cli.jsonOutput()) {
                cli.printJson(r);
                return;
            }
            cli.out.printf("release  %s:%s%ncreated  %s%n", r.path("app").asText(), r.path("version").asText(), r.path("createdAt").asText());
            Table images = new Table("PLATFORM", "DIGEST", "SIZE", "IMAGE ID", "IMAGE REF");
            for (JsonNode i : r.path("images")) {
                images.row(i.path("platform").asText(), i.path("digest").asText(), i.path("size").asLong(),
                        i.path("imageId").asText(), DevicesCommand.text(i.path("imageRef")));
            }
            images.print(cli.out);
            try {
                cli.out.println();
                cli.out.print(YAML.writeValueAsString(r.path("spec")).replaceFirst("^---\\n", ""));
            } catch (JsonProcessingException e) {
                cli.out.println(r.path("spec"));
            }
        }
    }
}
