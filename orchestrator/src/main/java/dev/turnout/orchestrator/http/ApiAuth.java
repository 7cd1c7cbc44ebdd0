package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.broker.Role;
import dev.turnout.orchestrator.security.BasicCredentials;
import dev.turnout.orchestrator.security.OperatorToken;
import dev.turnout.orchestrator.security.Secrets;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.Cookie;
import io.vertx.core.http.CookieSameSite;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Who may call the HTTP API (docs/security.md, "HTTP API"). Runs before every route:
 * <ul>
 *   <li>public: {@code GET /api/v1/health}, {@code GET /api/v1/server}, the API's contract
 *       {@code GET /api/openapi.json}, the session routes and the dashboard's static files (they hold no data);</li>
 *   <li>the operator: {@code Authorization: Bearer <operator token>}, or the dashboard's session
 *       cookie (HttpOnly, SameSite=Strict) obtained by posting the token to {@code /api/v1/session};</li>
 *   <li>a device, with HTTP Basic (its id and broker secret): {@code GET/HEAD /api/v1/artifacts/{digest}}
 *       only, and only archives of its own desired state (checked by the route);</li>
 *   <li>a monitor user, with HTTP Basic: every GET except artifact downloads, bundle exports,
 *       backups and webhooks (the last two refused by their routes) (read-only: metrics, events,
 *       fleet, rollouts, audit).</li>
 * </ul>
 * A refused request gets 401 (no or wrong credentials, {@code WWW-Authenticate: Bearer}) or 403
 * (known credentials, not allowed here) with a JSON error, before any route runs; credentials are
 * never logged.
 */
public final class ApiAuth {

    private static final Logger LOG = LoggerFactory.getLogger(ApiAuth.class);
    /** Name of the dashboard's session cookie. */
    public static final String COOKIE = "turnout_session";
    static final Duration SESSION_LIFETIME = Duration.ofHours(12);
    private static final int MAX_SESSIONS = 10_000;
    private static final String PRINCIPAL = "turnout.principal";

    /** What kind of caller a request comes from. */
    public enum Kind { OPERATOR, DEVICE, MONITOR }

    /** The authenticated caller of a request. */
    public record Principal(Kind kind, String name) {
    }

    private final Vertx vertx;
    private final OperatorToken token;
    private final BasicCredentials basic;
    private final Clock clock;
    /** Where operator acts of this class (token rotation) go in the audit trail; HttpApi wires the store. */
    private volatile java.util.function.Consumer<dev.turnout.orchestrator.store.AuditEntry> audit = entry -> { };
    private final ObjectMapper json = new ObjectMapper();
    private final Map<String, Long> sessions = new ConcurrentHashMap<>();
    /** Credential checks (a store read; Argon2id once for an identity of an older version) run here, never on the event loop nor on Vert.x's shared worker pool. */
    private final ThreadPoolExecutor hashing;

    public ApiAuth(Vertx vertx, OperatorToken token, BasicCredentials basic, Clock clock) {
        this.vertx = vertx;
        this.token = token;
        this.basic = basic;
        this.clock = clock;
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
        this.hashing = new ThreadPoolExecutor(threads, threads, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(1024), r -> {
            Thread t = new Thread(r, "turnout-http-credentials");
            t.setDaemon(true);
            return t;
        });
        this.hashing.allowCoreThreadTimeOut(true);
    }

    /** The caller of a request that passed this handler; null on public routes without credentials. */
    public static Principal principal(RoutingContext ctx) {
        return ctx.get(PRINCIPAL);
    }

    /** Mounts the guard on every route and the session routes; call before mounting any other route. */
    public void mountOn(Router router) {
        router.route().handler(this::guard);
        router.get("/api/v1/session").handler(this::sessionStatus);
        router.post("/api/v1/session").handler(BodyHandler.create().setBodyLimit(4096).setHandleFileUploads(false))
                .handler(this::login);
        router.delete("/api/v1/session").handler(this::logout);
        router.post("/api/v1/token/rotate").handler(this::rotate);
    }

    /** Records token rotations (who, when; never the token) in {@code sink}. */
    public void auditTo(java.util.function.Consumer<dev.turnout.orchestrator.store.AuditEntry> sink) {
        this.audit = java.util.Objects.requireNonNull(sink, "sink");
    }

    /** A new operator token: written to operator.token, in force at once; every dashboard session ends. */
    private void rotate(RoutingContext ctx) {
        Principal p = principal(ctx);
        if (p == null || p.kind() != Kind.OPERATOR) {
            refuse(ctx, 403, "only the operator may rotate the operator token", false);
            return;
        }
        vertx.executeBlocking(token::rotate, false).onSuccess(fresh -> {
            endSessions();
            LOG.info("the operator token was rotated by {} from {}; written to {}", p.name(), ctx.request().remoteAddress(), token.file());
            String user = ctx.request().getHeader("X-Turnout-User");
            try {
                audit.accept(new dev.turnout.orchestrator.store.AuditEntry(clock.instant(), user == null || user.isBlank() ? "api" : user,
                        "token.rotate", "operator.token", "from " + ctx.request().remoteAddress().hostAddress()));
            } catch (RuntimeException e) {
                LOG.warn("the token rotation could not be written to the audit trail: {}", e.toString());
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("tokenFile", token.file().toString());
            body.put("token", fresh);
            send(ctx, 200, body);
        }).onFailure(e -> {
            LOG.error("rotating the operator token failed: {}", e.toString());
            send(ctx, 500, Map.of("error", "cannot write the new operator token: " + e.getMessage()
                    + "; the old one stays in force"));
        });
    }

    private static boolean isPublic(String path, HttpMethod method) {
        boolean read = method == HttpMethod.GET || method == HttpMethod.HEAD;
        if (path.equals("/api/v1/session")) {
            return true;
        }
        if (read && (path.equals("/api/v1/health") || path.equals("/api/v1/server") || path.equals("/api/openapi.json"))) {
            return true;
        }
        // the dashboard's HTML, JavaScript and CSS: no data in them; the data they fetch is guarded
        return read && !path.startsWith("/api/") && !path.equals("/api") && !path.equals("/metrics");
    }

    private void guard(RoutingContext ctx) {
        String path = ctx.normalizedPath();
        HttpMethod method = ctx.request().method();
        String authorization = ctx.request().getHeader(HttpHeaders.AUTHORIZATION);
        boolean open = isPublic(path, method);
        if (authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            if (!token.matches(authorization.substring(7).trim())) {
                if (open) {
                    ctx.next();
                    return;
                }
                refuse(ctx, 401, "the operator token is wrong: use the one in operator.token in the server's data directory"
                        + " (it changes when that file is deleted and the server restarted)", true);
                return;
            }
            ctx.put(PRINCIPAL, new Principal(Kind.OPERATOR, "operator"));
            ctx.next();
            return;
        }
        if (authorization != null && authorization.regionMatches(true, 0, "Basic ", 0, 6)) {
            basicAuth(ctx, path, method, authorization, open);
            return;
        }
        Cookie cookie = ctx.request().getCookie(COOKIE);
        if (cookie != null && validSession(cookie.getValue())) {
            ctx.put(PRINCIPAL, new Principal(Kind.OPERATOR, "dashboard"));
            ctx.next();
            return;
        }
        if (open) {
            ctx.next();
            return;
        }
        refuse(ctx, 401, "this needs the operator token: send 'Authorization: Bearer <token>' (the token is in operator.token"
                + " in the server's data directory; the CLI finds it through TURNOUT_TOKEN, --token-file, its config file"
                + " or that file); devices download artifacts with HTTP Basic (device id and broker secret)", false);
    }

    private void basicAuth(RoutingContext ctx, String path, HttpMethod method, String authorization, boolean open) {
        boolean read = method == HttpMethod.GET || method == HttpMethod.HEAD;
        if (!read) {
            refuse(ctx, 401, "device and monitor credentials only read; " + method + " " + path + " needs the operator token"
                    + " ('Authorization: Bearer <token>')", false);
            return;
        }
        Optional<String[]> parsed = BasicCredentials.parse(authorization);
        if (parsed.isEmpty()) {
            refuse(ctx, 401, "the Basic credentials cannot be read: send base64(ID:SECRET)", true);
            return;
        }
        String name = parsed.get()[0];
        String secret = parsed.get()[1];
        Context context = vertx.getOrCreateContext();
        ctx.request().pause();
        try {
            hashing.execute(() -> {
                Optional<BasicCredentials.Principal> who;
                try {
                    who = basic.verify(name, secret);
                } catch (RuntimeException e) {
                    LOG.warn("checking the credentials of {} failed: {}", name, e.toString());
                    who = Optional.empty();
                }
                Optional<BasicCredentials.Principal> result = who;
                context.runOnContext(ignored -> {
                    ctx.request().resume();
                    admitBasic(ctx, path, open, name, result);
                });
            });
        } catch (RejectedExecutionException e) {
            ctx.request().resume();
            ctx.response().putHeader(HttpHeaders.RETRY_AFTER, "5");
            refuse(ctx, 503, "too many credential checks at once; retry in a few seconds", false);
        }
    }

    private void admitBasic(RoutingContext ctx, String path, boolean open, String name, Optional<BasicCredentials.Principal> who) {
        if (who.isEmpty()) {
            if (open) {
                ctx.next();
                return;
            }
            LOG.info("refused {} {} from {}: wrong or revoked credentials for {}", ctx.request().method(), path,
                    ctx.request().remoteAddress(), name);
            refuse(ctx, 401, "the credentials of " + name + " are wrong or revoked (devices: enroll again; operator routes take the"
                    + " operator token, 'Authorization: Bearer <token>')", true);
            return;
        }
        Role role = who.get().role();
        boolean artifact = path.startsWith("/api/v1/artifacts/");
        if (role == Role.DEVICE) {
            ctx.put(PRINCIPAL, new Principal(Kind.DEVICE, name));
            if (!artifact && !open) {
                refuse(ctx, 403, "device credentials only download artifacts; " + path + " needs the operator token", false);
                return;
            }
        } else if (role == Role.MONITOR) {
            ctx.put(PRINCIPAL, new Principal(Kind.MONITOR, name));
            if (artifact || path.endsWith("/bundle")) {
                refuse(ctx, 403, "monitor user " + name + " may read the fleet, metrics and events, not download releases;"
                        + " that needs the operator token", false);
                return;
            }
            if (path.equals("/api/v1/backup")) {
                refuse(ctx, 403, "monitor user " + name + " may not take a backup (it holds every secret); that needs the operator token",
                        false);
                return;
            }
        } else {
            refuse(ctx, 403, name + " cannot use the HTTP API", false);
            return;
        }
        ctx.next();
    }

    private boolean validSession(String id) {
        if (id == null || id.isEmpty()) {
            return false;
        }
        Long expires = sessions.get(id);
        if (expires == null) {
            return false;
        }
        if (expires <= clock.millis()) {
            sessions.remove(id);
            return false;
        }
        return true;
    }

    private void sessionStatus(RoutingContext ctx) {
        Principal p = principal(ctx);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("authenticated", p != null);
        body.put("kind", p == null ? null : p.kind().name().toLowerCase(java.util.Locale.ROOT));
        send(ctx, 200, body);
    }

    private void login(RoutingContext ctx) {
        String candidate = null;
        Buffer buffer = ctx.body() == null ? null : ctx.body().buffer();
        if (buffer != null && buffer.length() > 0) {
            try {
                JsonNode node = json.readTree(buffer.getBytes());
                candidate = node.path("token").asText(null);
            } catch (java.io.IOException e) {
                send(ctx, 400, Map.of("error", "the body must be JSON: {\"token\": \"...\"}"));
                return;
            }
        }
        if (candidate == null || !token.matches(candidate.trim())) {
            LOG.info("refused a dashboard login from {}: wrong operator token", ctx.request().remoteAddress());
            ctx.response().putHeader("WWW-Authenticate", "Bearer realm=\"turnout\", error=\"invalid_token\"");
            send(ctx, 401, Map.of("error", "wrong operator token: copy it from operator.token in the server's data directory"));
            return;
        }
        long now = clock.millis();
        if (sessions.size() >= MAX_SESSIONS) {
            sessions.values().removeIf(expires -> expires <= now);
            if (sessions.size() >= MAX_SESSIONS) {
                sessions.clear();
            }
        }
        String id = Secrets.newSecret();
        sessions.put(id, now + SESSION_LIFETIME.toMillis());
        ctx.response().addCookie(Cookie.cookie(COOKIE, id).setPath("/").setHttpOnly(true).setSameSite(CookieSameSite.STRICT)
                .setSecure(ctx.request().isSSL()).setMaxAge(SESSION_LIFETIME.toSeconds()));
        LOG.info("dashboard session started from {}", ctx.request().remoteAddress());
        send(ctx, 200, Map.of("authenticated", true, "kind", "operator"));
    }

    private void logout(RoutingContext ctx) {
        Cookie cookie = ctx.request().getCookie(COOKIE);
        if (cookie != null) {
            sessions.remove(cookie.getValue());
        }
        ctx.response().addCookie(Cookie.cookie(COOKIE, "").setPath("/").setHttpOnly(true).setSameSite(CookieSameSite.STRICT)
                .setSecure(ctx.request().isSSL()).setMaxAge(0));
        send(ctx, 200, Map.of("authenticated", false));
    }

    private void refuse(RoutingContext ctx, int status, String message, boolean invalidToken) {
        if (status == 401) {
            ctx.response().putHeader("WWW-Authenticate",
                    invalidToken ? "Bearer realm=\"turnout\", error=\"invalid_token\"" : "Bearer realm=\"turnout\"");
        }
        send(ctx, status, Map.of("error", message));
    }

    private void send(RoutingContext ctx, int status, Object body) {
        if (ctx.response().ended()) {
            return;
        }
        try {
            ctx.response().setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
                    .putHeader(HttpHeaders.CACHE_CONTROL, "no-store")
                    .end(Buffer.buffer(json.writeValueAsBytes(body)));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            ctx.response().setStatusCode(500).end();
        }
    }

    /** Ends every dashboard session (e.g. after the token changed). */
    public void endSessions() {
        sessions.clear();
    }
}
