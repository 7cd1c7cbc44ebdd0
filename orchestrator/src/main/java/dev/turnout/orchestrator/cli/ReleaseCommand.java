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

    @Command(name = "create", description = "Upload `docker save` archives and register a release: one container (--spec) or a Compose app (--compose).")
    static final class Create implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "APP:VERSION", converter = AppVersion.Converter.class)
        AppVersion release;

        @Option(names = "--image", required = true, paramLabel = "[PLATFORM=]ARCHIVE",
                description = {"An image archive: `docker save` (legacy or OCI layout), `docker buildx build --output type=oci`,"
                        + " `podman save --format oci-archive` (repeatable).",
                        "ARCHIVE alone: every platform the archive holds; PLATFORM=ARCHIVE (e.g. linux/arm64=web.tar): that platform only."})
        List<String> images = new ArrayList<>();

        @Option(names = "--spec", paramLabel = "FILE", description = "App spec (YAML): container settings and health check.")
        Path specFile;

        @Option(names = "--compose", paramLabel = "FILE", description = {"A Compose file (docs/compose.md) instead of --spec: a"
                + " multi-container app. The archives must hold every image its services name, for every platform.",
                "Files its env_file entries name are read relative to it and signed with the release."})
        Path composeFile;

        @Option(names = "--env", paramLabel = "NAME=VALUE", description = "With --compose: a value for ${NAME} in the file,"
                + " over the .env beside it (repeatable). Signed into the release in clear: no secrets; a device's own value wins.")
        List<String> env = new ArrayList<>();

        Create(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            // everything is checked before the first byte goes up
            if (!env.isEmpty() && composeFile == null) {
                throw new CliException(ExitCodes.USAGE, "--env goes with --compose (a --spec names its values under container.env)");
            }
            if ((specFile == null) == (composeFile == null)) {
                throw new CliException(ExitCodes.USAGE, "name the app's settings with either --spec FILE (one container)"
                        + " or --compose FILE (several)");
            }
            JsonNode spec = specFile == null ? null : readSpec(specFile);
            Map<Path, List<String>> wanted = ImageOption.parse(images);
            for (Path archive : wanted.keySet()) {
                if (!Files.isRegularFile(archive) || !Files.isReadable(archive)) {
                    throw new CliException("image archive " + archive + " is not a readable file");
                }
            }
            Map<String, Object> compose = null;
            if (composeFile != null) {
                LocalCompose local = LocalCompose.read(composeFile, variables(env));
                local.checkArchives(wanted);
                compose = local.body();
            }
            if (cli.api().find("/api/v1/releases/" + release.path()).isPresent()) {
                throw new CliException("release " + release + " exists already; releases are immutable, give it a new version");
            }
            Map<String, Map<String, Object>> byPlatform = new LinkedHashMap<>();
            for (Map.Entry<Path, List<String>> entry : wanted.entrySet()) {
                Path archive = entry.getKey();
                if (!cli.jsonOutput()) {
                    cli.out.printf("uploading %s (%s)%n", archive, size(archive));
                }
                JsonNode uploaded = cli.api().upload("/api/v1/artifacts", archive);
                Map<String, String> digests = new LinkedHashMap<>();
                uploaded.path("images").forEach(i -> digests.put(i.path("platform").asText(), i.path("digest").asText()));
                List<String> platforms = entry.getValue().isEmpty() ? List.copyOf(digests.keySet()) : entry.getValue();
                for (String platform : platforms) {
                    String digest = digests.get(platform);
                    if (digest == null) {
                        throw new CliException(archive + " holds no image for " + platform + "; it holds " + String.join(", ", digests.keySet()));
                    }
                    // a Compose release has one image per service image and platform (checked above)
                    String key = compose == null ? platform : platform + " " + digest;
                    if (byPlatform.containsKey(key)) {
                        throw new CliException("two images for " + platform + ": name each platform once");
                    }
                    Map<String, Object> ref = new LinkedHashMap<>();
                    ref.put("platform", platform);
                    ref.put("digest", digest);
                    byPlatform.put(key, ref);
                }
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("app", release.app());
            body.put("version", release.version());
            body.put("images", new ArrayList<>(byPlatform.values()));
            if (spec != null) {
                body.put("spec", spec);
            }
            if (compose != null) {
                body.put("compose", compose);
            }
            JsonNode created = cli.api().post("/api/v1/releases", body);
            if (cli.jsonOutput()) {
                cli.printJson(created);
                return;
            }
            cli.out.printf("created release %s%n", release);
            for (JsonNode i : created.path("images")) {
                cli.out.printf("  %-14s %s  image %s%s%n", i.path("platform").asText(), i.path("digest").asText(), i.path("imageId").asText(),
                        compose == null ? "" : "  " + i.path("imageRef").asText());
            }
            if (compose != null) {
                cli.out.printf("  services: %s%n", String.join(", ", servicesOf(created)));
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

    private static Map<String, String> variables(List<String> options) {
        Map<String, String> variables = new LinkedHashMap<>();
        for (String option : options) {
            int eq = option.indexOf('=');
            if (eq < 1 || !option.substring(0, eq).matches("[A-Za-z_][A-Za-z0-9_]*")) {
                throw new CliException(ExitCodes.USAGE, "--env '" + option + "' must be NAME=VALUE, NAME letters, digits and '_'");
            }
            variables.put(option.substring(0, eq), option.substring(eq + 1));
        }
        return variables;
    }

    private static List<String> servicesOf(JsonNode release) {
        List<String> names = new ArrayList<>();
        release.path("compose").path("services").forEach(service -> names.add(service.path("name").asText()));
        return names;
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
                if (r.has("agent")) {
                    platforms.add("all (edge daemon)");
                }
                table.row(r.path("app").asText(), r.path("version").asText(), String.join(",", platforms), r.path("createdAt").asText());
            }
            if (table.isEmpty()) {
                cli.out.println("no releases yet: turnout release create APP:VERSION --image [PLATFORM=]ARCHIVE --spec FILE (or --compose FILE)");
                return;
            }
            table.print(cli.out);
        }
    }

    @Command(name = "show", description = "Show one release: images and spec, or the services of a Compose release.")
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
            if (r.has("agent")) { // the edge daemon itself: its distribution, nothing to run as a container
                cli.out.printf("edge daemon distribution  %s (%d bytes)%n", r.path("agent").path("digest").asText(),
                        r.path("agent").path("size").asLong());
                return;
            }
            Table images = new Table("PLATFORM", "DIGEST", "SIZE", "IMAGE ID (CONFIG)", "MANIFEST", "IMAGE REF");
            for (JsonNode i : r.path("images")) {
                images.row(i.path("platform").asText(), i.path("digest").asText(), i.path("size").asLong(),
                        i.path("imageId").asText(), DevicesCommand.text(i.path("manifestDigest")), DevicesCommand.text(i.path("imageRef")));
            }
            images.print(cli.out);
            if (r.has("compose")) {
                JsonNode compose = r.path("compose");
                cli.out.printf("%ncompose  %s%n", compose.path("file").asText());
                Table services = new Table("SERVICE", "IMAGE", "DEPENDS ON", "PORTS", "HEALTHCHECK");
                for (JsonNode service : compose.path("services")) {
                    List<String> dependsOn = new ArrayList<>();
                    service.path("dependsOn").fields().forEachRemaining(e -> dependsOn.add(e.getKey() + " (" + e.getValue().asText() + ")"));
                    List<String> ports = new ArrayList<>();
                    service.path("ports").forEach(p -> ports.add(p.asText()));
                    services.row(service.path("name").asText(), service.path("image").asText(),
                            dependsOn.isEmpty() ? "-" : String.join(", ", dependsOn), ports.isEmpty() ? "-" : String.join(", ", ports),
                            service.path("healthcheck").asBoolean() ? "yes" : "image's own or none");
                }
                services.print(cli.out);
                return;
            }
            try {
                cli.out.println();
                cli.out.print(YAML.writeValueAsString(r.path("spec")).replaceFirst("^---\\n", ""));
            } catch (JsonProcessingException e) {
                cli.out.println(r.path("spec"));
            }
        }
    }
}
