package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.http.DockerSaveArchives;
import dev.turnout.proto.BundleManifest;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.testsupport.Ports;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code turnout release create --compose} against a real orchestrator (HTTP API, SQLite): every service's image is
 * checked against the archives before anything is uploaded, and the signed release carries the Compose file.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ComposeReleaseIT {

    private static final String COMPOSE = """
            name: trains
            services:
              web:
                image: demo/web:1.0.0
                ports: ["8080:80"]
                env_file: web.env
                depends_on:
                  db:
                    condition: service_healthy
              db:
                image: demo/db:1.0.0
                environment:
                  PASSWORD: ${DB_PASSWORD?set it in the device config}
                volumes: ["db-data:/var/lib/db"]
                healthcheck:
                  test: ["CMD", "/bin/true"]
                  interval: 2s
            volumes:
              db-data:
            """;

    @TempDir
    static Path work;

    private static TurnoutServer server;
    private final ObjectMapper json = new ObjectMapper();

    @BeforeAll
    static void startServer() throws Exception {
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null, "127.0.0.1",
                Topics.DEFAULT_PREFIX));
    }

    @AfterAll
    static void stopServer() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void aTwoServiceAppIsCheckedUploadedSignedAndShown() throws Exception {
        Path dir = Files.createDirectories(work.resolve("app"));
        Path compose = Files.writeString(dir.resolve("docker-compose.yml"), COMPOSE);
        Files.writeString(dir.resolve("web.env"), "# the web UI\nMODE=production\n");
        Path web = archive(dir, "web.tar", "demo/web:1.0.0");
        Path db = archive(dir, "db.tar", "demo/db:1.0.0");

        Result created = cli("release", "create", "trains:1.0.0", "--compose", compose.toString(),
                "--image", "linux/arm64=" + web, "--image", db.toString());
        assertThat(created.code).as(created.toString()).isZero();
        assertThat(created.out).contains("created release trains:1.0.0", "demo/web:1.0.0", "demo/db:1.0.0", "services: db, web");

        Result shown = cli("release", "show", "trains:1.0.0");
        assertThat(shown.code).as(shown.toString()).isZero();
        assertThat(shown.out).contains("compose  docker-compose.yml", "SERVICE", "DEPENDS ON");
        assertThat(shown.out.lines().filter(l -> l.startsWith("web ")).findFirst().orElseThrow())
                .contains("demo/web:1.0.0", "db (service_healthy)", "8080:80");
        assertThat(shown.out.lines().filter(l -> l.startsWith("db ")).findFirst().orElseThrow()).contains("demo/db:1.0.0", "yes");

        JsonNode release = json.readTree(cli("release", "show", "trains:1.0.0", "-o", "json").out);
        assertThat(release.path("compose").path("content").asText()).isEqualTo(COMPOSE);
        assertThat(release.path("images")).hasSize(2);

        // the signed release (here the offline bundle's manifest) covers the Compose file, its env file and both images
        BundleManifest manifest = signedManifest("trains", "1.0.0");
        assertThat(manifest.getRelease().getCompose().getFileName()).isEqualTo("docker-compose.yml");
        assertThat(manifest.getRelease().getCompose().getContent().toStringUtf8()).isEqualTo(COMPOSE);
        assertThat(manifest.getRelease().getCompose().getEnvFilesMap()).containsOnlyKeys("web.env");
        assertThat(manifest.getRelease().getCompose().getEnvFilesMap().get("web.env").toStringUtf8()).contains("MODE=production");
        assertThat(manifest.getRelease().getImagesList()).extracting(ImageArtifact::getImageRef)
                .containsExactlyInAnyOrder("demo/web:1.0.0", "demo/db:1.0.0");
        assertThat(manifest.getRelease().getImagesList()).extracting(ImageArtifact::getPlatform).containsOnly("linux/arm64");
        assertThat(manifest.getRelease().hasContainer()).isFalse();
    }

    @Test
    void refusedReleasesUploadNothingAndCreateNothing() throws Exception {
        Path dir = Files.createDirectories(work.resolve("bad"));
        Files.writeString(dir.resolve("web.env"), "MODE=test\n");
        Path compose = Files.writeString(dir.resolve("docker-compose.yml"), COMPOSE.replace("web.env", "missing.env")
                .replace("env_file: missing.env", "env_file: {path: missing.env, required: false}"));
        Path web = archive(dir, "web.tar", "demo/web:1.0.0");
        Path db = archive(dir, "db.tar", "demo/db:1.0.0");
        Path other = archive(dir, "other.tar", "demo/other:1.0.0");
        java.util.Set<Path> artifactsBefore = storedArtifacts();

        Path build = Files.writeString(dir.resolve("build.yml"), COMPOSE.replace("    image: demo/web:1.0.0\n",
                "    image: demo/web:1.0.0\n    build: .\n"));
        Result unsupported = cli("release", "create", "bad:1.0.0", "--compose", build.toString(), "--image", web.toString(),
                "--image", db.toString());
        assertThat(unsupported.code).isEqualTo(ExitCodes.ERROR);
        assertThat(unsupported.err.strip())
                .isEqualTo("turnout: build.yml: services.web.build: not supported by Turnout (supported keys: docs/compose.md)");

        Path cycle = Files.writeString(dir.resolve("cycle.yml"), COMPOSE.replace("    image: demo/db:1.0.0\n",
                "    image: demo/db:1.0.0\n    depends_on: [web]\n"));
        assertThat(cli("release", "create", "bad:1.0.0", "--compose", cycle.toString(), "--image", web.toString()).err)
                .contains("cycle.yml: dependency cycle detected: web -> db -> web");

        Result missingImage = cli("release", "create", "bad:1.0.0", "--compose", compose.toString(), "--image", web.toString());
        assertThat(missingImage.code).isEqualTo(ExitCodes.ERROR);
        assertThat(missingImage.err).contains("no archive holds demo/db:1.0.0 (service db) for linux/arm64");

        Result extraImage = cli("release", "create", "bad:1.0.0", "--compose", compose.toString(), "--image", web.toString(),
                "--image", db.toString(), "--image", other.toString());
        assertThat(extraImage.err).contains("other.tar holds demo/other:1.0.0, which no service of docker-compose.yml names");

        Result twice = cli("release", "create", "bad:1.0.0", "--compose", compose.toString(), "--image", web.toString(),
                "--image", db.toString(), "--image", archive(dir, "web-again.tar", "demo/web:1.0.0").toString());
        assertThat(twice.err).contains("two archives hold demo/web:1.0.0 for linux/arm64");

        Result both = cli("release", "create", "bad:1.0.0", "--compose", compose.toString(), "--spec", compose.toString(),
                "--image", web.toString());
        assertThat(both.code).isEqualTo(ExitCodes.USAGE);
        assertThat(both.err).contains("either --spec FILE (one container) or --compose FILE (several)");

        assertThat(cli("release", "show", "bad:1.0.0").code).isEqualTo(ExitCodes.ERROR);
        // no file was added (one left by an earlier test may be cleaned up meanwhile: compare names, not counts)
        assertThat(storedArtifacts()).as("nothing uploaded").isSubsetOf(artifactsBefore);

        // the server applies the same rules to a body that skipped the CLI's checks
        String webDigest = json.readTree(post("/api/v1/artifacts", Files.readAllBytes(web), "application/octet-stream").body())
                .path("images").path(0).path("digest").asText();
        Map<String, Object> body = new HashMap<>();
        body.put("app", "bad");
        body.put("version", "1.0.0");
        body.put("images", List.of(Map.of("platform", "linux/arm64", "digest", webDigest)));
        body.put("compose", Map.of("file", "docker-compose.yml", "content", COMPOSE.replace("    env_file: web.env\n", "")));
        HttpResponse<String> noDb = post("/api/v1/releases", json.writeValueAsBytes(body), "application/json");
        assertThat(noDb.statusCode()).isEqualTo(400);
        assertThat(noDb.body()).contains("no image demo/db:1.0.0 (service db) for linux/arm64");

        body.put("compose", Map.of("file", "docker-compose.yml", "content", COMPOSE.replace("    env_file: web.env\n", "")
                .replace("db-data:/var", "db-logs:/var")));
        HttpResponse<String> undeclared = post("/api/v1/releases", json.writeValueAsBytes(body), "application/json");
        assertThat(undeclared.statusCode()).isEqualTo(400);
        assertThat(undeclared.body()).contains("docker-compose.yml: services.db.volumes[0]: refers to undefined volume db-logs");

        body.put("compose", Map.of("file", "docker-compose.yml", "content", "services:\n  web:\n    image: demo/web:1.0.0\n"));
        body.put("spec", Map.of("container", Map.of("network", "none")));
        HttpResponse<String> withSpec = post("/api/v1/releases", json.writeValueAsBytes(body), "application/json");
        assertThat(withSpec.statusCode()).isEqualTo(400);
        assertThat(withSpec.body()).contains("a Compose release takes its settings from docker-compose.yml; leave out spec");

        assertThat(cli("release", "show", "bad:1.0.0").code).isEqualTo(ExitCodes.ERROR);
    }

    @Test
    void theReleasesVariablesComeFromDotEnvAndEnvOptionsAndNameTheImages() throws Exception {
        Path dir = Files.createDirectories(work.resolve("vars"));
        Path compose = Files.writeString(dir.resolve("docker-compose.yml"), """
                services:
                  web:
                    image: demo/web:${WEB_TAG}
                    environment:
                      SITE: ${SITE:-attic}
                      TOKEN: ${TOKEN?from the device config}
                """);
        Files.writeString(dir.resolve(".env"), "WEB_TAG=1.0.0\nSITE=yard\n");
        Path web = archive(dir, "web.tar", "demo/web:2.0.0");

        Result fromDotEnv = cli("release", "create", "vars:1.0.0", "--compose", compose.toString(), "--image", web.toString());
        assertThat(fromDotEnv.code).isEqualTo(ExitCodes.ERROR);
        assertThat(fromDotEnv.err).contains("holds demo/web:2.0.0, which no service of docker-compose.yml names;"
                + " the services name demo/web:1.0.0");

        Result overridden = cli("release", "create", "vars:2.0.0", "--compose", compose.toString(), "--image", web.toString(),
                "--env", "WEB_TAG=2.0.0");
        assertThat(overridden.code).as(overridden.toString()).isZero();
        BundleManifest manifest = signedManifest("vars", "2.0.0");
        assertThat(manifest.getRelease().getCompose().getVariablesMap()).containsExactlyInAnyOrderEntriesOf(
                Map.of("WEB_TAG", "2.0.0", "SITE", "yard"));
        // the device's own variable (TOKEN) is not the release's business: it stays a ${...} in the signed file
        assertThat(manifest.getRelease().getCompose().getContent().toStringUtf8()).contains("${TOKEN?from the device config}");

        assertThat(cli("release", "create", "vars:3.0.0", "--compose", compose.toString(), "--image", web.toString(),
                "--env", "2BAD=x").code).isEqualTo(ExitCodes.USAGE);
        Files.delete(dir.resolve(".env"));
        assertThat(cli("release", "create", "vars:3.0.0", "--compose", compose.toString(), "--image", web.toString()).err)
                .contains("docker-compose.yml: services.web.image: uses ${WEB_TAG}, which is not set when the release is made");
    }

    private static Path archive(Path dir, String name, String ref) throws IOException {
        return Files.write(dir.resolve(name), DockerSaveArchives.of(ref, ref).bytes());
    }

    private static java.util.Set<Path> storedArtifacts() throws IOException {
        try (Stream<Path> files = Files.walk(work.resolve("server"))) {
            return files.filter(Files::isRegularFile).filter(p -> p.toString().contains("artifacts"))
                    .collect(java.util.stream.Collectors.toSet());
        }
    }

    private BundleManifest signedManifest(String app, String version) throws Exception {
        PublicKey key = PublicKey.fromBase64(json.readTree(
                URI.create(server.url() + "/api/v1/server").toURL().openStream()).path("publicKey").asText());
        HttpResponse<byte[]> bundle = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create(server.url() + "/api/v1/releases/" + app + "/" + version + "/bundle"))
                .header("Authorization", "Bearer " + server.operatorToken()).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(bundle.statusCode()).isEqualTo(200);
        try (TarArchiveInputStream tar = new TarArchiveInputStream(new ByteArrayInputStream(bundle.body()))) {
            TarArchiveEntry entry;
            while ((entry = tar.getNextEntry()) != null) {
                if (entry.getName().equals("manifest.bin")) {
                    return BundleManifest.parseFrom(new EnvelopeVerifier(List.of(key)).open(tar.readAllBytes()));
                }
            }
        }
        throw new AssertionError("the bundle has no manifest.bin");
    }

    private static HttpResponse<String> post(String path, byte[] body, String type) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(server.url() + path))
                .header("Authorization", "Bearer " + server.operatorToken()).header("Content-Type", type)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    record Result(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\nstdout:\n" + out + "\nstderr:\n" + err;
        }
    }

    private static Result cli(String... args) {
        List<String> full = new ArrayList<>(List.of(args));
        full.add("--server");
        full.add(server.url());
        Map<String, String> env = new HashMap<>();
        env.put("TURNOUT_TOKEN", server.operatorToken());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                env, full.toArray(String[]::new));
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
