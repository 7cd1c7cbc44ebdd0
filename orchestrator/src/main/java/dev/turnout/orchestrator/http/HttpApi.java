package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import dev.turnout.orchestrator.artifacts.ArtifactRepository;
import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.orchestrator.domain.ReleaseSpec;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.engine.RolloutRequest;
import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.orchestrator.store.DesiredRecord;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.broker.Role;
import dev.turnout.orchestrator.security.BrokerAccess;
import dev.turnout.orchestrator.security.BrokerIdentity;
import dev.turnout.orchestrator.security.Names;
import dev.turnout.proto.Topics;
import dev.turnout.proto.rules.SemVer;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.file.OpenOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
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
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The HTTP API of docs/api.md on Vert.x Web. Handlers never block the event loop: the store and
 * disk run on worker threads, rollout commands on the engine's own thread.
 */
public final class HttpApi {

    private static final Logger LOG = LoggerFactory.getLogger(HttpApi.class);
    private static final long JSON_BODY_LIMIT = 1 << 20;
    private static final long ARTIFACT_LIMIT = 8L << 30;
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final Pattern PLATFORM = Pattern.compile("[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?");
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d*)-(\\d*)");

    @JsonIgnoreProperties(ignoreUnknown = true)
    record EnrollBody(String id, Map<String, String> labels, List<String> groups) {
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    record UserBody(String name, String role) {
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    record ImageBody(String platform, String digest) {
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    record ReleaseBody(String app, String version, List<ImageBody> images, ReleaseSpec spec) {
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    record RolloutBody(String app, String version, String target, JsonNode waves, JsonNode soak, JsonNode maxFailures,
                       String onFailure, JsonNode deviceTimeout, Boolean dryRun, Boolean approveEachWave,
                       Boolean offlineCountsAsFailure, @com.fasterxml.jackson.annotation.JsonProperty("static") Boolean staticTarget,
                       Boolean rollback, String emergency) {
    }

    private final Vertx vertx;
    private final FleetStore store;
    private final ArtifactRepository artifacts;
    private final RolloutEngine engine;
    private final Executor engineExecutor;
    private final Supplier<ServerInfo> serverInfo;
    private final Clock clock;
    private final BrokerAccess access;
    private final ApiAuth auth;
    private final ObjectMapper json = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    public HttpApi(Vertx vertx, FleetStore store, ArtifactRepository artifacts, RolloutEngine engine,
                   Executor engineExecutor, Supplier<ServerInfo> serverInfo, Clock clock, BrokerAccess access, ApiAuth auth) {
        this.access = java.util.Objects.requireNonNull(access, "access");
        this.auth = java.util.Objects.requireNonNull(auth, "auth");
        auth.auditTo(store::appendAudit);
        this.vertx = vertx;
        this.store = store;
        this.artifacts = artifacts;
        this.engine = engine;
        this.engineExecutor = engineExecutor;
        this.serverInfo = serverInfo;
        this.clock = clock;
    }

    /** Starts listening; the future holds the server (its actual port when {@code port} is 0). */
    public Future<HttpServer> listen(String host, int port) {
        return listen(host, port, router());
    }

    /** Starts listening with {@code router}: this API's {@link #router()} with more routes mounted on it. */
    public Future<HttpServer> listen(String host, int port, Router router) {
        return listen(host, port, router, null, null);
    }

    /**
     * Starts listening with {@code router}, over HTTPS when {@code certificatePem} (the server certificate
     * and its chain) and {@code keyPem} (its private key) are given.
     */
    public Future<HttpServer> listen(String host, int port, Router router, String certificatePem, String keyPem) {
        HttpServerOptions options = new HttpServerOptions().setHandle100ContinueAutomatically(true).setCompressionSupported(false);
        if (certificatePem != null) {
            options.setSsl(true).setKeyCertOptions(new io.vertx.core.net.PemKeyCertOptions()
                    .setCertValue(io.vertx.core.buffer.Buffer.buffer(certificatePem))
                    .setKeyValue(io.vertx.core.buffer.Buffer.buffer(keyPem)));
        }
        return vertx.createHttpServer(options).requestHandler(router).listen(port, host);
    }

    public Router router() {
        Router router = Router.router(vertx);
        auth.mountOn(router); // first: no route runs for a caller without the right credentials
        BodyHandler body = BodyHandler.create().setBodyLimit(JSON_BODY_LIMIT).setHandleFileUploads(false);
        router.get("/api/v1/health").handler(this::health);
        router.get("/api/v1/server").handler(this::serverInfo);

        router.post("/api/v1/devices").handler(body).handler(this::enrollDevice);
        router.get("/api/v1/devices").handler(this::listDevices);
        router.get("/api/v1/devices/:id").handler(this::getDevice);
        router.post("/api/v1/devices/:id/revoke").handler(this::revokeDevice);

        router.post("/api/v1/users").handler(body).handler(this::addUser);
        router.get("/api/v1/users").handler(this::listUsers);
        router.post("/api/v1/users/:name/revoke").handler(this::revokeUser);

        router.post("/api/v1/artifacts").handler(this::uploadArtifact);
        router.get("/api/v1/artifacts/:digest").handler(this::downloadArtifact);
        router.head("/api/v1/artifacts/:digest").handler(this::downloadArtifact);

        router.post("/api/v1/releases").handler(body).handler(this::createRelease);
        router.get("/api/v1/releases").handler(this::listReleases);
        router.get("/api/v1/releases/:app/:version").handler(this::getRelease);
        router.get("/api/v1/releases/:app/:version/bundle").handler(this::exportBundle);

        router.post("/api/v1/rollouts").handler(body).handler(this::createRollout);
        router.get("/api/v1/rollouts").handler(this::listRollouts);
        router.get("/api/v1/rollouts/:id").handler(this::getRollout);
        router.post("/api/v1/rollouts/:id/:action").handler(body).handler(this::rolloutAction);

        router.get("/api/v1/audit").handler(this::listAudit);

        router.errorHandler(404, ctx -> error(ctx, 404, "no such endpoint: " + ctx.request().method() + " " + ctx.request().path()));
        router.errorHandler(405, ctx -> error(ctx, 405, "method not allowed on " + ctx.request().path()));
        router.errorHandler(413, ctx -> error(ctx, 413, "request body too large"));
        router.errorHandler(500, ctx -> fail(ctx, ctx.failure() == null ? new IllegalStateException("unknown") : ctx.failure()));
        return router;
    }

    private void health(RoutingContext ctx) {
        ServerInfo info = serverInfo.get();
        ok(ctx, 200, Map.of("status", "ok", "version", info.version()));
    }

    private void serverInfo(RoutingContext ctx) {
        ServerInfo info = serverInfo.get();
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("keyId", info.keyId());
        v.put("publicKey", info.publicKeyBase64());
        v.put("brokerUrl", info.deviceBrokerUrl());
        v.put("orchestratorUrl", info.orchestratorUrl());
        if (info.caPem() != null) {
            v.put("ca", info.caPem());
        }
        v.put("topicPrefix", info.topicPrefix());
        ok(ctx, 200, v);
    }

    private void enrollDevice(RoutingContext ctx) {
        EnrollBody body;
        try {
            body = parse(ctx, EnrollBody.class);
        } catch (RuntimeException e) {
            fail(ctx, e);
            return;
        }
        blocking(ctx, () -> {
            if (body.id() == null || !Topics.isValidId(body.id()) || !Names.isValid(body.id())) {
                throw new InvalidInputException("device id '" + body.id()
                        + "' is invalid: use 1-64 letters, digits, '.', '_' or '-' (no '+', '#', '/', whitespace or control characters)");
            }
            Device device = new Device(body.id(), body.labels(), body.groups(), clock.instant(), false, null, null);
            BrokerAccess.Issued credentials;
            boolean again = false;
            BrokerAccess.NewSecret secret = BrokerAccess.newSecret(); // the slow hash, outside the lock: enrollments run in parallel
            synchronized (access) {
                Device known = store.findDevice(device.id()).orElse(null);
                if (known != null && access.find(known.id()).isPresent()) {
                    throw new ConflictException("device " + device.id() + " is already enrolled");
                }
                access.checkIssuable(device.id());
                if (known == null) {
                    store.insertDevice(device);
                } else {
                    // revoked, or enrolled before broker credentials existed: a new secret, same inventory entry
                    device = known;
                    again = true;
                }
                credentials = access.issue(device.id(), Role.DEVICE, secret);
            }
            store.appendAudit(new AuditEntry(clock.instant(), actor(ctx), again ? "device.reenroll" : "device.enroll", device.id(),
                    again ? "new broker secret; labels and groups kept" : null));
            LOG.info("{} device {}", again ? "re-enrolled" : "enrolled", device.id());
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("device", deviceView(device));
            v.put("config", DeviceConfigYaml.of(device, serverInfo.get(), credentials.secret()));
            return v;
        }, v -> {
            ok(ctx, 201, v);
            // dynamic targets: unfinished rollouts that match the new device take it in
            onEngine(() -> {
                engine.onEnrolled(body.id());
                return null;
            }).onFailure(e -> LOG.warn("device {} could not join the running rollouts: {}", body.id(), e.toString()));
        });
    }

    private void revokeDevice(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        blocking(ctx, () -> {
            store.findDevice(id).orElseThrow(() -> new NotFoundException("device " + id + " is not enrolled"));
            boolean revoked = access.revoke(id);
            if (revoked) {
                store.appendAudit(new AuditEntry(clock.instant(), actor(ctx), "device.revoke", id, null));
            }
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("id", id);
            v.put("revoked", true);
            v.put("alreadyRevoked", !revoked);
            return v;
        }, v -> ok(ctx, 200, v));
    }

    private void addUser(RoutingContext ctx) {
        UserBody body;
        try {
            body = parse(ctx, UserBody.class);
        } catch (RuntimeException e) {
            fail(ctx, e);
            return;
        }
        blocking(ctx, () -> {
            if (!"monitor".equalsIgnoreCase(body.role())) {
                throw new InvalidInputException("role '" + body.role() + "' is unknown: use monitor"
                        + " (devices get their credentials at enrollment)");
            }
            BrokerAccess.Issued issued;
            synchronized (access) {
                access.checkIssuable(body.name());
                if (store.findDevice(body.name()).isPresent()) {
                    throw new ConflictException("the name " + body.name() + " belongs to an enrolled device");
                }
                issued = access.issue(body.name(), Role.MONITOR);
            }
            store.appendAudit(new AuditEntry(clock.instant(), actor(ctx), "user.add", issued.name(), "role=monitor"));
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("name", issued.name());
            v.put("role", "monitor");
            v.put("password", issued.secret());
            v.put("brokerUrl", serverInfo.get().deviceBrokerUrl());
            v.put("topicPrefix", serverInfo.get().topicPrefix());
            return v;
        }, v -> ok(ctx, 201, v));
    }

    private void listUsers(RoutingContext ctx) {
        blocking(ctx, () -> {
            List<Object> users = new ArrayList<>();
            for (BrokerIdentity identity : access.identities()) {
                Map<String, Object> u = new LinkedHashMap<>();
                u.put("name", identity.name());
                u.put("role", identity.role().name().toLowerCase(java.util.Locale.ROOT));
                u.put("createdAt", JsonViews.timestamp(identity.createdAt()));
                users.add(u);
            }
            Map<String, Object> orchestrator = new LinkedHashMap<>();
            orchestrator.put("name", access.orchestrator().name());
            orchestrator.put("role", "orchestrator");
            orchestrator.put("createdAt", null);
            users.add(0, orchestrator);
            return Map.of("users", users);
        }, v -> ok(ctx, 200, v));
    }

    private void revokeUser(RoutingContext ctx) {
        String name = ctx.pathParam("name");
        blocking(ctx, () -> {
            BrokerIdentity identity = access.find(name).orElseThrow(() -> new NotFoundException("no user " + name));
            if (identity.role() != Role.MONITOR) {
                throw new InvalidInputException(name + " is a device: use `turnout device revoke " + name + "`");
            }
            access.revoke(name);
            store.appendAudit(new AuditEntry(clock.instant(), actor(ctx), "user.revoke", name, null));
            return Map.of("name", name, "revoked", true);
        }, v -> ok(ctx, 200, v));
    }

    private void listDevices(RoutingContext ctx) {
        blocking(ctx, () -> {
            List<Object> devices = new ArrayList<>();
            store.listDevices().forEach(d -> devices.add(deviceView(d)));
            return Map.of("devices", devices);
        }, v -> ok(ctx, 200, v));
    }

    private void getDevice(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        blocking(ctx, () -> deviceView(store.findDevice(id)
                .orElseThrow(() -> new NotFoundException("device " + id + " is not enrolled"))), v -> ok(ctx, 200, v));
    }

    private Map<String, Object> deviceView(Device d) {
        return JsonViews.device(d, store.deviceApps(d.id()), store.findDesired(d.id()).orElse(null));
    }

    private void uploadArtifact(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        request.pause();
        String length = request.getHeader(HttpHeaders.CONTENT_LENGTH);
        if (length != null && length.matches("\\d{1,18}") && Long.parseLong(length) > ARTIFACT_LIMIT) {
            error(ctx, 413, "archive larger than " + (ARTIFACT_LIMIT >> 30) + " GiB");
            return;
        }
        Path[] incoming = new Path[1];
        vertx.executeBlocking(artifacts::newIncomingFile, false)
                .compose(path -> {
                    incoming[0] = path;
                    return vertx.fileSystem().open(path.toString(), new OpenOptions().setWrite(true).setTruncateExisting(true));
                })
                .compose(file -> request.pipeTo(file))
                .compose(done -> vertx.executeBlocking(() -> artifacts.ingest(incoming[0]), false))
                .onSuccess(ingested -> {
                    for (Artifact a : ingested.artifacts()) {
                        LOG.info("{} artifact {} ({} bytes, {} image {})", ingested.created() ? "stored" : "known", a.digest(),
                                a.size(), a.platform(), a.imageRef());
                    }
                    ok(ctx, ingested.created() ? 201 : 200, JsonViews.upload(ingested.artifacts()));
                })
                .onFailure(e -> {
                    if (incoming[0] != null) {
                        vertx.fileSystem().delete(incoming[0].toString()).onFailure(ignored -> { });
                    }
                    fail(ctx, e);
                });
    }

    private void downloadArtifact(RoutingContext ctx) {
        String digest = ctx.pathParam("digest");
        boolean head = ctx.request().method() == HttpMethod.HEAD;
        String range = ctx.request().getHeader("Range");
        ApiAuth.Principal caller = ApiAuth.principal(ctx);
        blocking(ctx, () -> {
            if (caller != null && caller.kind() == ApiAuth.Kind.DEVICE && !targets(caller.name(), digest)) {
                throw new ForbiddenException("artifact " + digest + " is not part of a release in the desired state of device "
                        + caller.name() + "; a device downloads only what it is told to install");
            }
            Path path = artifacts.file(digest).orElseThrow(() -> new NotFoundException("artifact " + digest + " is not stored"));
            return Map.entry(path, Files.size(path));
        }, found -> {
            Path path = found.getKey();
            long size = found.getValue();
            HttpServerResponse response = ctx.response()
                    .putHeader(HttpHeaders.ACCEPT_RANGES, "bytes")
                    .putHeader(HttpHeaders.CONTENT_TYPE, "application/octet-stream");
            long start = 0;
            long end = size - 1;
            if (range != null) {
                Matcher m = RANGE.matcher(range.trim());
                boolean valid = m.matches() && !(m.group(1).isEmpty() && m.group(2).isEmpty());
                if (valid) {
                    if (m.group(1).isEmpty()) {
                        start = Math.max(0, size - Long.parseLong(m.group(2)));
                    } else {
                        start = Long.parseLong(m.group(1));
                        end = m.group(2).isEmpty() ? size - 1 : Math.min(size - 1, Long.parseLong(m.group(2)));
                    }
                }
                if (!valid || start >= size || start > end) {
                    response.putHeader(HttpHeaders.CONTENT_RANGE, "bytes */" + size);
                    error(ctx, 416, "range '" + range + "' cannot be satisfied for " + size + " bytes");
                    return;
                }
                response.setStatusCode(206).putHeader(HttpHeaders.CONTENT_RANGE, "bytes " + start + "-" + end + "/" + size);
            }
            long length = end - start + 1;
            if (head) {
                response.putHeader(HttpHeaders.CONTENT_LENGTH, Long.toString(size == 0 ? 0 : length)).end();
                return;
            }
            response.sendFile(path.toString(), start, length).onFailure(e -> LOG.warn("sending {} failed: {}", digest, e.toString()));
        });
    }

    /** True when {@code digest} is an image of a release in the current desired state of {@code deviceId}. */
    private boolean targets(String deviceId, String digest) {
        DesiredRecord desired = store.findDesired(deviceId).orElse(null);
        if (desired == null) {
            return false;
        }
        for (DesiredApp app : desired.apps()) {
            Release release = store.findRelease(app.app(), app.version()).orElse(null);
            if (release != null && release.images().stream().anyMatch(i -> i.digest().equals(digest))) {
                return true;
            }
        }
        return false;
    }

    /** A caller who is known but may not do this: 403. */
    static final class ForbiddenException extends RuntimeException {
        ForbiddenException(String message) {
            super(message);
        }
    }

    private void createRelease(RoutingContext ctx) {
        ReleaseBody body;
        try {
            body = parse(ctx, ReleaseBody.class);
        } catch (RuntimeException e) {
            fail(ctx, e);
            return;
        }
        blocking(ctx, () -> {
            Release release = validRelease(body);
            store.insertRelease(release);
            store.appendAudit(new AuditEntry(clock.instant(), actor(ctx), "release.create", release.key(), null));
            LOG.info("created release {}", release.key());
            return JsonViews.release(release);
        }, v -> ok(ctx, 201, v));
    }

    private Release validRelease(ReleaseBody body) {
        if (body.app() == null || !NAME.matcher(body.app()).matches()) {
            throw new InvalidInputException("app '" + body.app() + "' must be 1-64 letters, digits, '.', '_' or '-'");
        }
        if (!SemVer.isWellFormed(body.version())) {
            throw new InvalidInputException("version '" + body.version() + "' is not a semantic version such as 1.4.2");
        }
        if (body.images() == null || body.images().isEmpty()) {
            throw new InvalidInputException("a release needs at least one image");
        }
        ReleaseSpec spec = body.spec() == null ? new ReleaseSpec(null, null) : body.spec();
        spec.validate();
        List<ReleaseImage> images = new ArrayList<>();
        Set<String> platforms = new HashSet<>();
        for (ImageBody image : body.images()) {
            if (image == null || image.platform() == null || !PLATFORM.matcher(image.platform()).matches()) {
                throw new InvalidInputException("image platform '" + (image == null ? null : image.platform())
                        + "' must look like linux/arm64, linux/arm/v7 or linux/arm/v6");
            }
            if (!platforms.add(image.platform())) {
                throw new InvalidInputException("platform " + image.platform() + " is listed twice");
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
            images.add(ReleaseImage.of(image.platform(), artifact));
        }
        if (store.findRelease(body.app(), body.version()).isPresent()) {
            throw new ConflictException("release " + body.app() + ":" + body.version() + " exists already");
        }
        return new Release(body.app(), body.version(), clock.instant(), images, spec);
    }

    private void listReleases(RoutingContext ctx) {
        blocking(ctx, () -> Map.of("releases", store.listReleases().stream().map(JsonViews::release).toList()),
                v -> ok(ctx, 200, v));
    }

    private void getRelease(RoutingContext ctx) {
        String app = ctx.pathParam("app");
        String version = ctx.pathParam("version");
        blocking(ctx, () -> JsonViews.release(store.findRelease(app, version)
                .orElseThrow(() -> new NotFoundException("release " + app + ":" + version + " does not exist"))), v -> ok(ctx, 200, v));
    }

    /** An offline bundle of a release: an uncompressed tar, signed manifest first (docs/edge-daemon.md). */
    private void exportBundle(RoutingContext ctx) {
        String app = ctx.pathParam("app");
        String version = ctx.pathParam("version");
        blocking(ctx, () -> {
            Release release = store.findRelease(app, version)
                    .orElseThrow(() -> new NotFoundException("release " + app + ":" + version + " does not exist"));
            Path file = artifacts.newIncomingFile();
            try {
                BundleWriter.write(release, engine.desiredStates().bundleManifest(release), artifacts, file);
            } catch (IOException | RuntimeException e) {
                Files.deleteIfExists(file);
                throw e;
            }
            store.appendAudit(new AuditEntry(clock.instant(), actor(ctx), "release.bundle", release.key(), null));
            return file;
        }, file -> {
            HttpServerResponse response = ctx.response();
            response.putHeader("Content-Type", "application/x-tar");
            response.putHeader("Content-Disposition", "attachment; filename=\"" + app + "-" + version + ".tar\"");
            response.sendFile(file.toString()).onComplete(done -> vertx.executeBlocking(() -> Files.deleteIfExists(file), false));
        });
    }

    private void createRollout(RoutingContext ctx) {
        RolloutBody body;
        try {
            body = parse(ctx, RolloutBody.class);
        } catch (RuntimeException e) {
            fail(ctx, e);
            return;
        }
        RolloutRequest request = new RolloutRequest(body.app(), body.version(), body.target(), text(body.waves()),
                text(body.soak()), text(body.maxFailures()), body.onFailure(), text(body.deviceTimeout()), body.dryRun(),
                body.approveEachWave(), body.offlineCountsAsFailure(), body.staticTarget(), body.rollback(), body.emergency());
        String actor = actor(ctx);
        onEngine(() -> rolloutView(engine.create(request, actor)))
                .onSuccess(v -> ok(ctx, Boolean.TRUE.equals(body.dryRun()) ? 200 : 201, v))
                .onFailure(e -> fail(ctx, e));
    }

    private void listRollouts(RoutingContext ctx) {
        blocking(ctx, () -> {
            Set<String> offline = offlineDevices();
            return Map.of("rollouts", store.listRollouts().stream().map(r -> JsonViews.rollout(r, offline)).toList());
        }, v -> ok(ctx, 200, v));
    }

    private void getRollout(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        blocking(ctx, () -> rolloutView(store.findRollout(id)
                .orElseThrow(() -> new NotFoundException("rollout " + id + " does not exist"))), v -> ok(ctx, 200, v));
    }

    private void rolloutAction(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        String action = ctx.pathParam("action");
        String actor = actor(ctx);
        Supplier<Rollout> command = switch (action) {
            case "pause" -> () -> engine.pause(id, actor);
            case "resume" -> () -> engine.resume(id, actor);
            case "abort" -> () -> engine.abort(id, actor);
            case "approve" -> () -> engine.approve(id, actor);
            case "rollback" -> () -> engine.rollBack(id, actor);
            default -> null;
        };
        if (command == null) {
            error(ctx, 404, "unknown rollout action '" + action + "': use pause, resume, abort, approve or rollback");
            return;
        }
        onEngine(() -> rolloutView(command.get())).onSuccess(v -> ok(ctx, 200, v)).onFailure(e -> fail(ctx, e));
    }

    private void listAudit(RoutingContext ctx) {
        String about = ctx.queryParams().get("subject");
        blocking(ctx, () -> Map.of("entries", (about == null || about.isBlank() ? store.audit(500)
                : store.auditAbout(about, 500)).stream().map(e -> {
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("at", JsonViews.timestamp(e.at()));
            v.put("actor", e.actor());
            v.put("action", e.action());
            v.put("subject", e.subject());
            v.put("detail", e.detail());
            return v;
        }).toList()), v -> ok(ctx, 200, v));
    }

    private Map<String, Object> rolloutView(Rollout r) {
        return JsonViews.rollout(r, offlineDevices());
    }

    private Set<String> offlineDevices() {
        Set<String> offline = new HashSet<>();
        store.listDevices().stream().filter(d -> !d.online()).forEach(d -> offline.add(d.id()));
        return offline;
    }

    private <T> T parse(RoutingContext ctx, Class<T> type) {
        Buffer buffer = ctx.body() == null ? null : ctx.body().buffer();
        if (buffer == null || buffer.length() == 0) {
            throw new InvalidInputException("the request needs a JSON body");
        }
        try {
            return json.readValue(buffer.getBytes(), type);
        } catch (UnrecognizedPropertyException e) {
            throw new InvalidInputException("unknown field " + path(e));
        } catch (JsonMappingException e) {
            throw new InvalidInputException("field " + path(e) + " has the wrong type or value");
        } catch (JsonProcessingException e) {
            throw new InvalidInputException("the body is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw new InvalidInputException("the body cannot be read: " + e.getMessage());
        }
    }

    private static String path(JsonMappingException e) {
        StringBuilder b = new StringBuilder();
        for (JsonMappingException.Reference ref : e.getPath()) {
            if (ref.getFieldName() != null) {
                if (b.length() > 0) {
                    b.append('.');
                }
                b.append(ref.getFieldName());
            } else {
                b.append('[').append(ref.getIndex()).append(']');
            }
        }
        return b.length() == 0 ? "(body)" : b.toString();
    }

    private static String text(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isArray()) {
            List<String> parts = new ArrayList<>();
            node.forEach(n -> parts.add(n.asText()));
            return String.join(",", parts);
        }
        return node.asText();
    }

    private static String actor(RoutingContext ctx) {
        String user = ctx.request().getHeader("X-Turnout-User");
        return user == null || user.isBlank() ? "api" : user;
    }

    private <T> void blocking(RoutingContext ctx, Callable<T> work, java.util.function.Consumer<T> onSuccess) {
        vertx.executeBlocking(work, false).onSuccess(onSuccess::accept).onFailure(e -> fail(ctx, e));
    }

    private <T> Future<T> onEngine(Supplier<T> work) {
        Context context = vertx.getOrCreateContext();
        Promise<T> promise = Promise.promise();
        CompletableFuture.supplyAsync(work, engineExecutor).whenComplete((value, error) -> context.runOnContext(ignored -> {
            if (error != null) {
                promise.fail(error instanceof CompletionException && error.getCause() != null ? error.getCause() : error);
            } else {
                promise.complete(value);
            }
        }));
        return promise.future();
    }

    private void ok(RoutingContext ctx, int status, Object body) {
        try {
            ctx.response().setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
                    .end(Buffer.buffer(json.writeValueAsBytes(body)));
        } catch (JsonProcessingException e) {
            fail(ctx, e);
        }
    }

    private void fail(RoutingContext ctx, Throwable e) {
        if (e instanceof InvalidInputException) {
            error(ctx, 400, e.getMessage());
        } else if (e instanceof NotFoundException) {
            error(ctx, 404, e.getMessage());
        } else if (e instanceof ConflictException) {
            error(ctx, 409, e.getMessage());
        } else if (e instanceof ForbiddenException) {
            LOG.info("refused {} {}: {}", ctx.request().method(), ctx.request().path(), e.getMessage());
            error(ctx, 403, e.getMessage());
        } else {
            LOG.error("{} {} failed", ctx.request().method(), ctx.request().path(), e);
            error(ctx, 500, "internal error: " + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        }
    }

    private void error(RoutingContext ctx, int status, String message) {
        if (ctx.response().ended() || ctx.response().headWritten()) {
            return;
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", message);
        try {
            ctx.response().setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
                    .end(Buffer.buffer(json.writeValueAsBytes(body)));
        } catch (JsonProcessingException impossible) {
            ctx.response().setStatusCode(500).end();
        }
    }
}
