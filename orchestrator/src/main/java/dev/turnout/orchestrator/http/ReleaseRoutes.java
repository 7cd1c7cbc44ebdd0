package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import dev.turnout.orchestrator.artifacts.ArtifactRepository;
import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseCompose;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.orchestrator.domain.ReleaseSpec;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.proto.compose.ComposeFile;
import dev.turnout.proto.compose.ComposeReader;
import dev.turnout.proto.compose.InvalidComposeException;
import dev.turnout.proto.agent.AgentDistribution;
import dev.turnout.proto.image.ImageArchive;
import dev.turnout.proto.rules.SemVer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Releases: {@code POST /api/v1/releases} (an app version made of uploaded archives, one per
 * platform; or a Compose file with one archive per service image and platform), {@code GET /api/v1/releases[/:app/:version]} and the offline bundle
 * {@code GET /api/v1/releases/:app/:version/bundle}.
 */
final class ReleaseRoutes {

    private static final Logger LOG = LoggerFactory.getLogger(ReleaseRoutes.class);
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final Pattern VARIABLE = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    /** The largest edge daemon distribution taken (the daemon's jar is about 10 MB). */
    private static final long AGENT_LIMIT = 512L << 20;
    private static final Pattern PLATFORM = Pattern.compile("[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?");

    @JsonIgnoreProperties(ignoreUnknown = true)
    record ImageBody(String platform, String digest) {
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    record ComposeBody(String file, String content, Map<String, String> envFiles, Map<String, String> variables) {
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    record ReleaseBody(String app, String version, List<ImageBody> images, ReleaseSpec spec, ComposeBody compose) {
    }

    private final ApiExchange exchange;
    private final FleetStore store;
    private final ArtifactRepository artifacts;
    private final RolloutEngine engine;
    private final Clock clock;

    ReleaseRoutes(ApiExchange exchange, FleetStore store, ArtifactRepository artifacts, RolloutEngine engine, Clock clock) {
        this.exchange = exchange;
        this.store = store;
        this.artifacts = artifacts;
        this.engine = engine;
        this.clock = clock;
    }

    void mountOn(Router router, BodyHandler body) {
        router.post("/api/v1/releases").handler(body).handler(this::createRelease);
        router.get("/api/v1/releases").handler(this::listReleases);
        router.get("/api/v1/releases/:app/:version").handler(this::getRelease);
        router.get("/api/v1/releases/:app/:version/bundle").handler(this::exportBundle);
        router.post("/api/v1/agent/releases/:version").handler(this::createAgentRelease);
    }

    /**
     * {@code POST /api/v1/agent/releases/:version}: the body is an edge daemon distribution (a tar.gz, streamed to
     * disk), checked, stored content-addressed like an image archive and made release {@code turnout-edge:VERSION}.
     */
    private void createAgentRelease(RoutingContext ctx) {
        String version = ctx.pathParam("version");
        String actor = ApiExchange.actor(ctx);
        io.vertx.core.http.HttpServerRequest request = ctx.request();
        request.pause();
        if (!SemVer.isWellFormed(version)) {
            exchange.error(ctx, 400, "version '" + version + "' is not a semantic version such as 1.4.2");
            return;
        }
        String length = request.getHeader(io.vertx.core.http.HttpHeaders.CONTENT_LENGTH);
        if (length != null && length.matches("\\d{1,18}") && Long.parseLong(length) > AGENT_LIMIT) {
            exchange.error(ctx, 413, "distribution larger than " + (AGENT_LIMIT >> 20) + " MiB");
            return;
        }
        io.vertx.core.Vertx vertx = exchange.vertx();
        Path[] incoming = new Path[1];
        vertx.executeBlocking(() -> {
                    if (store.findRelease(AgentDistribution.APP, version).isPresent()) {
                        throw new ConflictException("release " + AgentDistribution.APP + ":" + version + " exists already");
                    }
                    return artifacts.newIncomingFile();
                }, false)
                .compose(path -> {
                    incoming[0] = path;
                    return vertx.fileSystem().open(path.toString(), new io.vertx.core.file.OpenOptions().setWrite(true)
                            .setTruncateExisting(true));
                })
                .compose(request::pipeTo)
                .compose(done -> vertx.executeBlocking(() -> {
                    Artifact distribution = artifacts.ingestAgent(incoming[0]);
                    Release release = Release.agent(version, clock.instant(), distribution);
                    store.insertRelease(release);
                    store.appendAudit(new AuditEntry(clock.instant(), actor, "agent.release", release.key(),
                            distribution.digest() + " " + distribution.size() + " bytes"));
                    LOG.info("created agent release {} ({}, {} bytes)", release.key(), distribution.digest(), distribution.size());
                    return JsonViews.release(release);
                }, false))
                .onSuccess(v -> exchange.ok(ctx, 201, v))
                .onFailure(e -> {
                    if (incoming[0] != null) {
                        vertx.fileSystem().delete(incoming[0].toString()).onFailure(ignored -> { });
                    }
                    exchange.fail(ctx, e);
                });
    }

    private void createRelease(RoutingContext ctx) {
        exchange.withJsonBody(ctx, ReleaseBody.class, body -> exchange.blocking(ctx, () -> {
            Release release = validRelease(body);
            store.insertRelease(release);
            store.appendAudit(new AuditEntry(clock.instant(), ApiExchange.actor(ctx), "release.create", release.key(), null));
            LOG.info("created release {}", release.key());
            return JsonViews.release(release);
        }, v -> exchange.ok(ctx, 201, v)));
    }

    private Release validRelease(ReleaseBody body) {
        if (body.app() == null || !NAME.matcher(body.app()).matches()) {
            throw new InvalidInputException("app '" + body.app() + "' must be 1-64 letters, digits, '.', '_' or '-'");
        }
        if (AgentDistribution.isAgent(body.app())) {
            throw new InvalidInputException("app name " + AgentDistribution.APP + " is reserved for the edge daemon itself:"
                    + " release it with `turnout agent release VERSION FILE` (POST /api/v1/agent/releases/VERSION)");
        }
        if (!SemVer.isWellFormed(body.version())) {
            throw new InvalidInputException("version '" + body.version() + "' is not a semantic version such as 1.4.2");
        }
        if (body.images() == null || body.images().isEmpty()) {
            throw new InvalidInputException("a release needs at least one image");
        }
        if (body.compose() != null) {
            return validComposeRelease(body);
        }
        ReleaseSpec spec = body.spec() == null ? new ReleaseSpec(null, null) : body.spec();
        spec.validate();
        List<ReleaseImage> images = new ArrayList<>();
        Set<String> platforms = new HashSet<>();
        for (ImageBody image : body.images()) {
            Artifact artifact = artifact(image);
            if (!platforms.add(image.platform())) {
                throw new InvalidInputException("platform " + image.platform() + " is listed twice");
            }
            images.add(ReleaseImage.of(image.platform(), artifact));
        }
        checkNew(body);
        return new Release(body.app(), body.version(), clock.instant(), artifacts.deltas().withBases(images, previous(body.app())), spec);
    }

    /**
     * A multi-container release: the Compose file checked as the device will (docs/compose.md), and for every platform
     * the release names, exactly one image for each image the services name, and no other.
     */
    private Release validComposeRelease(ReleaseBody body) {
        ComposeBody c = body.compose();
        if (c.file() == null || c.file().isBlank() || c.content() == null || c.content().isBlank()) {
            throw new InvalidInputException("compose needs `file` (its name) and `content` (the YAML)");
        }
        if (body.spec() != null && (body.spec().container() != null || body.spec().health() != null
                || body.spec().limits() != null)) {
            throw new InvalidInputException("a Compose release takes its settings from " + c.file() + "; leave out spec"
                    + (body.spec().limits() != null ? " (resource limits are watched for single-container releases only)" : ""));
        }
        if (c.variables() != null) {
            for (Map.Entry<String, String> v : c.variables().entrySet()) {
                if (v.getKey() == null || !VARIABLE.matcher(v.getKey()).matches() || v.getValue() == null) {
                    throw new InvalidInputException("compose variable '" + v.getKey() + "' must be a name of letters, digits and '_'"
                            + " (not starting with a digit) with a value");
                }
            }
        }
        ReleaseCompose compose = new ReleaseCompose(c.file(), c.content(), c.envFiles(), c.variables());
        ComposeFile app;
        try {
            app = ComposeReader.check(c.file(), c.content(), compose.variables(), compose.envFiles());
        } catch (InvalidComposeException e) {
            throw new InvalidInputException(e.getMessage());
        }
        Map<String, String> serviceByImage = new LinkedHashMap<>(); // normalized image name -> first service naming it
        app.services().values().forEach(service -> serviceByImage.putIfAbsent(ImageArchive.normalizedName(service.image()),
                service.name()));
        Map<String, Set<String>> imagesByPlatform = new TreeMap<>();
        List<ReleaseImage> images = new ArrayList<>();
        for (ImageBody image : body.images()) {
            Artifact artifact = artifact(image);
            String ref = artifact.imageRef();
            String name = ref == null ? null : ImageArchive.normalizedName(ref);
            if (name == null || !serviceByImage.containsKey(name)) {
                throw new InvalidInputException("artifact " + image.digest() + " holds image " + (ref == null ? "(untagged)" : ref)
                        + ", which no service of " + c.file() + " names; the services name " + String.join(", ", app.images()));
            }
            if (!imagesByPlatform.computeIfAbsent(image.platform(), p -> new HashSet<>()).add(name)) {
                throw new InvalidInputException("image " + ref + " for " + image.platform() + " is listed twice");
            }
            images.add(ReleaseImage.of(image.platform(), artifact));
        }
        for (Map.Entry<String, Set<String>> platform : imagesByPlatform.entrySet()) {
            for (Map.Entry<String, String> wanted : serviceByImage.entrySet()) {
                if (!platform.getValue().contains(wanted.getKey())) {
                    String image = app.services().get(wanted.getValue()).image();
                    throw new InvalidInputException("no image " + image + " (service " + wanted.getValue() + ") for "
                            + platform.getKey() + ": every platform of the release needs every service's image");
                }
            }
        }
        checkNew(body);
        return new Release(body.app(), body.version(), clock.instant(), artifacts.deltas().withBases(images, previous(body.app())),
                new ReleaseSpec(null, null), compose);
    }

    /** The app's newest release (the one its devices most likely hold), whose layers the new one's deltas start from. */
    private Release previous(String app) {
        return store.listReleases().stream().filter(r -> r.app().equals(app))
                .max(java.util.Comparator.comparing(Release::createdAt)).orElse(null);
    }

    private Artifact artifact(ImageBody image) {
        if (image == null || image.platform() == null || !PLATFORM.matcher(image.platform()).matches()) {
            throw new InvalidInputException("image platform '" + (image == null ? null : image.platform())
                    + "' must look like linux/arm64, linux/arm/v7 or linux/arm/v6");
        }
        if (!ArtifactRepository.isDigest(image.digest())) {
            throw new InvalidInputException("image digest '" + image.digest() + "' must be sha256:<64 hex digits>");
        }
        Artifact artifact = store.findArtifact(image.digest())
                .orElseThrow(() -> new InvalidInputException("unknown artifact digest " + image.digest() + ": upload it first"));
        if (artifact.platform() != null && !artifact.platform().equals(image.platform())) {
            throw new InvalidInputException("artifact " + image.digest() + " holds an image for " + artifact.platform()
                    + ", not " + image.platform());
        }
        return artifact;
    }

    private void checkNew(ReleaseBody body) {
        if (store.findRelease(body.app(), body.version()).isPresent()) {
            throw new ConflictException("release " + body.app() + ":" + body.version() + " exists already");
        }
    }

    private void listReleases(RoutingContext ctx) {
        exchange.blocking(ctx, () -> Map.of("releases", store.listReleases().stream().map(JsonViews::release).toList()),
                v -> exchange.ok(ctx, 200, v));
    }

    private void getRelease(RoutingContext ctx) {
        String app = ctx.pathParam("app");
        String version = ctx.pathParam("version");
        exchange.blocking(ctx, () -> JsonViews.release(find(app, version)), v -> exchange.ok(ctx, 200, v));
    }

    /**
     * An offline bundle of a release: an uncompressed tar, signed manifest first (docs/edge-daemon.md). With
     * {@code ?against=OLD}: a delta bundle for a device that holds the app's release OLD (only what changed).
     */
    private void exportBundle(RoutingContext ctx) {
        String app = ctx.pathParam("app");
        String version = ctx.pathParam("version");
        String againstVersion = ctx.queryParams().get("against");
        exchange.blocking(ctx, () -> {
            if (againstVersion != null && !SemVer.isWellFormed(againstVersion)) {
                throw new InvalidInputException("against '" + againstVersion + "' is not a semantic version such as 1.4.2");
            }
            Release release = find(app, version);
            if (release.isAgent()) {
                throw new InvalidInputException("release " + release.key() + " is the edge daemon itself; devices install it"
                        + " over the network (turnout agent deploy), not from an offline bundle");
            }
            Release against = againstVersion == null ? null : find(app, againstVersion);
            if (against != null && (against.version().equals(version) || against.isAgent())) {
                throw new InvalidInputException("a delta bundle of " + release.key() + " must be against another release of the app, not "
                        + against.key());
            }
            Path file = artifacts.newIncomingFile();
            try {
                if (against == null) {
                    BundleWriter.write(release, engine.desiredStates().bundleManifest(release, null), artifacts, file);
                } else {
                    BundleWriter.DeltaContents contents = BundleWriter.writeDelta(release, against,
                            engine.desiredStates().bundleManifest(release, against.version()), artifacts, artifacts.deltas(), file);
                    LOG.info("delta bundle of {} against {}: {} blobs left out, {} whole, {} as deltas ({} bytes)", release.key(),
                            against.version(), contents.leftOut(), contents.whole(), contents.deltas(), Files.size(file));
                }
            } catch (IOException | RuntimeException e) {
                Files.deleteIfExists(file);
                throw e;
            }
            store.appendAudit(new AuditEntry(clock.instant(), ApiExchange.actor(ctx), "release.bundle", release.key(),
                    against == null ? null : "against " + against.version()));
            return file;
        }, file -> {
            HttpServerResponse response = ctx.response();
            response.putHeader("Content-Type", "application/x-tar");
            response.putHeader("Content-Disposition", "attachment; filename=\"" + app + "-" + version
                    + (againstVersion == null ? "" : "-from-" + againstVersion) + ".tar\"");
            response.sendFile(file.toString())
                    .onComplete(done -> exchange.vertx().executeBlocking(() -> Files.deleteIfExists(file), false));
        });
    }

    private Release find(String app, String version) {
        return store.findRelease(app, version)
                .orElseThrow(() -> new NotFoundException("release " + app + ":" + version + " does not exist"));
    }
}
