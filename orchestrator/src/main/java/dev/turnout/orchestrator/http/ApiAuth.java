package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.broker.Role;
import dev.turnout.orchestrator.domain.OperatorAccount;
import dev.turnout.orchestrator.domain.OperatorRole;
import dev.turnout.orchestrator.security.OperatorAccounts;
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
 * Who may call the HTTP API (docs/security.md, "HTTP API"). Runs before every route, and lets a
 * request through only when its caller's role reaches what {@link RoutePolicy} asks for the route:
 * <ul>
 *   <li>public: {@code GET /api/v1/health}, {@code GET /api/v1/server}, the API's contract
 *       {@code GET /api/openapi.json}, the session and login routes and the dashboard's static files (they hold no data);</li>
 *   <li>an operator account: {@code Authorization: Bearer <API token>} from {@code POST /api/v1/tokens}
 *       ({@code turnout login}), or the dashboard's session cookie (HttpOnly, SameSite=Strict) obtained by posting
 *       name and password to {@code /api/v1/session}; its role is read from the store at every request, so a
 *       revoked account stops at once;</li>
 *   <li>the holder of the operator token ({@code Bearer <operator token>}, or a session from it): the built-in
 *       admin {@value OperatorAccounts#BUILT_IN_ADMIN};</li>
 *   <li>a device, with HTTP Basic (its id and broker secret): {@code GET/HEAD /api/v1/artifacts/{digest}} and
 *       {@code /api/v1/blobs/{digest}} only, and only archives and blobs of its own desired state (checked by the route);</li>
 *   <li>a monitor user, with HTTP Basic: every GET except artifact and blob downloads, bundle exports,
 *       backups and webhooks (the last two refused by their routes) (read-only: metrics, events,
 *       fleet, rollouts, audit).</li>
 * </ul>
 * A refused request gets 401 (no or wrong credentials, {@code WWW-Authenticate: Bearer}) or 403
 * (known credentials, not allowed here) with a JSON error, before any route runs; credentials are
 * never logged. The audit trail names the caller this class authenticated ({@link #principal}).
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

    /** The authenticated caller of a request; {@code role} is null for devices and monitors. */
    public record Principal(Kind kind, String name, OperatorRole role) {
    }

    /**
     * A dashboard session: whose (the account's name and creation time, so that a revoked account made again under the
     * same name does not inherit it), and until when; {@code builtIn} for one opened with the operator token.
     */
    private record Session(String name, long accountCreated, boolean builtIn, long expires) {
    }

    private static final Principal TOKEN_HOLDER = new Principal(Kind.OPERATOR, OperatorAccounts.BUILT_IN_ADMIN, OperatorRole.ADMIN);

    private final Vertx vertx;
    private final OperatorToken token;
    private final BasicCredentials basic;
    private final OperatorAccounts accounts;
    private final Clock clock;
    /** Where operator acts of this class (token rotation) go in the audit trail; HttpApi wires the store. */
    private volatile java.util.function.Consumer<dev.turnout.orchestrator.store.AuditEntry> audit = entry -> { };
    private final ObjectMapper json = new ObjectMapper();
    private final Map<String, Session> sessions = new ConcurrentHashMap<>();
    /** Wrong sign-ins per name and per address (docs/security.md, "Password guessing"). */
    private final dev.turnout.orchestrator.security.SignInThrottle throttle;
    /** Credential checks (a store read; Argon2id once for an identity of an older version) run here, never on the event loop nor on Vert.x's shared worker pool. */
    private final ThreadPoolExecutor hashing;

    public ApiAuth(Vertx vertx, OperatorToken token, BasicCredentials basic, OperatorAccounts accounts, Clock clock) {
        this.vertx = vertx;
        this.token = token;
        this.basic = basic;
        this.accounts = java.util.Objects.requireNonNull(accounts, "accounts");
        this.clock = clock;
        this.throttle = new dev.turnout.orchestrator.security.SignInThrottle(clock);
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
        router.post("/api/v1/tokens").handler(BodyHandler.create().setBodyLimit(4096).setHandleFileUploads(false))
                .handler(this::issueToken);
        router.delete("/api/v1/tokens/current").handler(this::endToken);
        router.post("/api/v1/token/rotate").handler(this::rotate);
    }

    /** The operator accounts this guard checks; the operator routes manage them. */
    OperatorAccounts accounts() {
        return accounts;
    }

    /** Records token rotations (who, when; never the token) in {@code sink}. */
    public void auditTo(java.util.function.Consumer<dev.turnout.orchestrator.store.AuditEntry> sink) {
        this.audit = java.util.Objects.requireNonNull(sink, "sink");
    }

    /** A new operator token: written to operator.token, in force at once; every dashboard session opened with it ends. */
    private void rotate(RoutingContext ctx) {
        Principal p = principal(ctx);
        if (p == null || p.role() != OperatorRole.ADMIN) {
            refuse(ctx, 403, "only an admin may rotate the operator token", false);
            return;
        }
        vertx.executeBlocking(token::rotate, false).onSuccess(fresh -> {
            endSessions();
            LOG.info("the operator token was rotated by {} from {}; written to {}", p.name(), ctx.request().remoteAddress(), token.file());
            try {
                audit.accept(new dev.turnout.orchestrator.store.AuditEntry(clock.instant(), p.name(),
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

    private void guard(RoutingContext ctx) {
        String path = ctx.normalizedPath();
        HttpMethod method = ctx.request().method();
        RoutePolicy.Access access = RoutePolicy.accessFor(method.name(), path);
        boolean open = access == RoutePolicy.Access.PUBLIC;
        String authorization = ctx.request().getHeader(HttpHeaders.AUTHORIZATION);
        if (authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            String bearer = authorization.substring(7).trim();
            if (token.matches(bearer)) {
                admit(ctx, TOKEN_HOLDER, access, path);
                return;
            }
            offEventLoop(ctx, () -> accounts.byToken(bearer), account -> {
                if (account.isPresent()) {
                    admit(ctx, operator(account.get()), access, path);
                } else if (open) {
                    ctx.next();
                } else {
                    refuse(ctx, 401, "the token is wrong, expired or revoked: log in again (turnout login), or use the"
                            + " operator token in operator.token in the server's data directory", true);
                }
            });
            return;
        }
        if (authorization != null && authorization.regionMatches(true, 0, "Basic ", 0, 6)) {
            basicAuth(ctx, path, method, authorization, access);
            return;
        }
        Cookie cookie = ctx.request().getCookie(COOKIE);
        Session session = cookie == null ? null : validSession(cookie.getValue());
        if (session != null && session.builtIn()) {
            admit(ctx, TOKEN_HOLDER, access, path);
            return;
        }
        if (session != null) {
            offEventLoop(ctx, () -> accounts.find(session.name()), account -> {
                if (account.isPresent() && account.get().createdAt().toEpochMilli() == session.accountCreated()) {
                    admit(ctx, operator(account.get()), access, path);
                    return;
                }
                sessions.remove(cookie.getValue());
                if (open) {
                    ctx.next();
                } else {
                    refuse(ctx, 401, "the operator " + session.name() + " was revoked; sign in again", false);
                }
            });
            return;
        }
        if (open) {
            ctx.next();
            return;
        }
        refuse(ctx, 401, "this needs credentials: 'Authorization: Bearer <token>' with your API token (turnout login) or the"
                + " operator token (operator.token in the server's data directory; the CLI finds it through TURNOUT_TOKEN,"
                + " --token-file, its config file or that file); devices download artifacts with HTTP Basic (device id and"
                + " broker secret)", false);
    }

    private static Principal operator(OperatorAccount account) {
        return new Principal(Kind.OPERATOR, account.name(), account.role());
    }

    /** Lets an operator through when their role reaches what the route needs; 403 otherwise. */
    private void admit(RoutingContext ctx, Principal who, RoutePolicy.Access access, String path) {
        ctx.put(PRINCIPAL, who);
        OperatorRole least = access.least();
        if (least == null || who.role().includes(least)) {
            ctx.next();
            return;
        }
        LOG.info("refused {} {} to {} ({}): needs {}", ctx.request().method(), path, who.name(), who.role().wireName(), least.wireName());
        refuse(ctx, 403, who.name() + " is a " + who.role().wireName() + "; " + ctx.request().method() + " " + path + " needs the "
                + least.wireName() + " role (docs/security.md, \"Roles\")", false);
    }

    /** Runs a credential lookup (a store read, maybe Argon2id) on the credential threads, then {@code then} on the event loop. */
    private <T> void offEventLoop(RoutingContext ctx, java.util.concurrent.Callable<T> lookup, java.util.function.Consumer<T> then) {
        Context context = vertx.getOrCreateContext();
        boolean paused = !ctx.request().isEnded(); // the body of a request still arriving waits; a read one cannot
        if (paused) {
            ctx.request().pause();
        }
        try {
            hashing.execute(() -> {
                T result;
                try {
                    result = lookup.call();
                } catch (Exception e) {
                    LOG.warn("checking credentials failed: {}", e.toString());
                    context.runOnContext(ignored -> {
                        if (paused) {
                            ctx.request().resume();
                        }
                        send(ctx, 500, Map.of("error", "the credentials cannot be checked: " + e.getMessage()));
                    });
                    return;
                }
                context.runOnContext(ignored -> {
                    if (paused) {
                        ctx.request().resume();
                    }
                    then.accept(result);
                });
            });
        } catch (RejectedExecutionException e) {
            if (paused) {
                ctx.request().resume();
            }
            ctx.response().putHeader(HttpHeaders.RETRY_AFTER, "5");
            refuse(ctx, 503, "too many credential checks at once; retry in a few seconds", false);
        }
    }

    private void basicAuth(RoutingContext ctx, String path, HttpMethod method, String authorization, RoutePolicy.Access access) {
        boolean open = access == RoutePolicy.Access.PUBLIC;
        boolean read = method == HttpMethod.GET || method == HttpMethod.HEAD;
        if (!read) {
            refuse(ctx, 401, "device and monitor credentials only read; " + method + " " + path + " needs an operator account's API token or the"
                    + " operator token ('Authorization: Bearer <token>')", false);
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
                    admitBasic(ctx, path, access, name, result);
                });
            });
        } catch (RejectedExecutionException e) {
            ctx.request().resume();
            ctx.response().putHeader(HttpHeaders.RETRY_AFTER, "5");
            refuse(ctx, 503, "too many credential checks at once; retry in a few seconds", false);
        }
    }

    private void admitBasic(RoutingContext ctx, String path, RoutePolicy.Access access, String name,
                            Optional<BasicCredentials.Principal> who) {
        boolean open = access == RoutePolicy.Access.PUBLIC;
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
        boolean artifact = path.startsWith("/api/v1/artifacts/") || path.startsWith("/api/v1/blobs/");
        if (role == Role.DEVICE) {
            ctx.put(PRINCIPAL, new Principal(Kind.DEVICE, name, null));
            if (!artifact && !open) {
                refuse(ctx, 403, "device credentials only download artifacts; " + path + " needs the operator token", false);
                return;
            }
        } else if (role == Role.MONITOR) {
            ctx.put(PRINCIPAL, new Principal(Kind.MONITOR, name, null));
            if (!open && access != RoutePolicy.Access.VIEWER) {
                refuse(ctx, 403, "monitor user " + name + " only reads the fleet, metrics and events; " + path
                        + " needs an operator account", false);
                return;
            }
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

    private Session validSession(String id) {
        if (id == null || id.isEmpty()) {
            return null;
        }
        Session session = sessions.get(id);
        if (session == null) {
            return null;
        }
        if (session.expires() <= clock.millis()) {
            sessions.remove(id);
            return null;
        }
        return session;
    }

    private void sessionStatus(RoutingContext ctx) {
        Principal p = principal(ctx);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("authenticated", p != null);
        body.put("kind", p == null ? null : p.kind().name().toLowerCase(java.util.Locale.ROOT));
        body.put("name", p == null ? null : p.name());
        body.put("role", p == null || p.role() == null ? null : p.role().wireName());
        send(ctx, 200, body);
    }

    /** A login body: the operator token, or an account's name and password (and, for an API token, nothing else). */
    private record Credentials(String token, String name, String password) {
    }

    /** Reads {@code {"token"}} or {@code {"name","password"}}; null (and a 400 sent) when the body is not that. */
    private Credentials credentials(RoutingContext ctx, boolean tokenAllowed) {
        Buffer buffer = ctx.body() == null ? null : ctx.body().buffer();
        String expected = tokenAllowed ? "{\"name\": \"...\", \"password\": \"...\"} or {\"token\": \"...\"}"
                : "{\"name\": \"...\", \"password\": \"...\"}";
        if (buffer == null || buffer.length() == 0) {
            send(ctx, 400, Map.of("error", "the body must be JSON: " + expected));
            return null;
        }
        try {
            JsonNode node = json.readTree(buffer.getBytes());
            if (node == null || !node.isObject()) {
                throw new java.io.IOException("not an object");
            }
            java.util.Iterator<String> fields = node.fieldNames();
            while (fields.hasNext()) {
                String field = fields.next();
                if (!(field.equals("name") || field.equals("password") || (tokenAllowed && field.equals("token")))) {
                    send(ctx, 400, Map.of("error", "unknown field " + field + "; the body is " + expected));
                    return null;
                }
            }
            Credentials c = new Credentials(node.path("token").asText(null), node.path("name").asText(null),
                    node.path("password").asText(null));
            if (c.token() == null && (c.name() == null || c.password() == null)) {
                send(ctx, 400, Map.of("error", "the body must be JSON: " + expected));
                return null;
            }
            return c;
        } catch (java.io.IOException e) {
            send(ctx, 400, Map.of("error", "the body must be JSON: " + expected));
            return null;
        }
    }

    private void login(RoutingContext ctx) {
        Credentials given = credentials(ctx, true);
        if (given == null) {
            return;
        }
        String address = ctx.request().remoteAddress() == null ? "" : ctx.request().remoteAddress().host();
        String name = given.token() != null ? null : given.name();
        if (throttled(ctx, name, address)) {
            return;
        }
        if (given.token() != null) {
            if (!token.matches(given.token().trim())) {
                LOG.info("refused a dashboard login from {}: wrong operator token", ctx.request().remoteAddress());
                throttle.failed(null, address);
                refuse(ctx, 401, "wrong operator token: copy it from operator.token in the server's data directory", true);
                return;
            }
            throttle.succeeded(null, address);
            startSession(ctx, new Session(OperatorAccounts.BUILT_IN_ADMIN, 0, true, 0), TOKEN_HOLDER);
            return;
        }
        offEventLoop(ctx, () -> accounts.authenticate(given.name(), given.password()), account -> {
            if (account.isEmpty()) {
                LOG.info("refused a dashboard login from {}: wrong name or password for {}", ctx.request().remoteAddress(), given.name());
                throttle.failed(name, address);
                refuse(ctx, 401, "wrong name or password", false);
                return;
            }
            throttle.succeeded(name, address);
            startSession(ctx, new Session(account.get().name(), account.get().createdAt().toEpochMilli(), false, 0),
                    operator(account.get()));
        });
    }

    /** Refuses (429) a sign-in while its name or address waits after wrong attempts; the password is not checked. */
    private boolean throttled(RoutingContext ctx, String name, String address) {
        java.util.Optional<java.time.Duration> wait = throttle.waitFor(name, address);
        if (wait.isEmpty()) {
            return false;
        }
        long seconds = Math.max(1, (wait.get().toMillis() + 999) / 1000);
        LOG.warn("sign-in for {} from {} refused for {} s more after repeated wrong attempts", name == null ? "the operator token" : name,
                address, seconds);
        ctx.response().putHeader("Retry-After", Long.toString(seconds));
        send(ctx, 429, Map.of("error", "too many wrong sign-ins" + (name == null ? "" : " for " + name) + " or from this address;"
                + " try again in " + seconds + " s"));
        return true;
    }

    private void startSession(RoutingContext ctx, Session session, Principal who) {
        long now = clock.millis();
        if (sessions.size() >= MAX_SESSIONS) {
            sessions.values().removeIf(s -> s.expires() <= now);
            if (sessions.size() >= MAX_SESSIONS) {
                sessions.clear();
            }
        }
        String id = Secrets.newSecret();
        sessions.put(id, new Session(session.name(), session.accountCreated(), session.builtIn(), now + SESSION_LIFETIME.toMillis()));
        ctx.response().addCookie(Cookie.cookie(COOKIE, id).setPath("/").setHttpOnly(true).setSameSite(CookieSameSite.STRICT)
                .setSecure(ctx.request().isSSL()).setMaxAge(SESSION_LIFETIME.toSeconds()));
        LOG.info("dashboard session of {} started from {}", who.name(), ctx.request().remoteAddress());
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("authenticated", true);
        body.put("kind", "operator");
        body.put("name", who.name());
        body.put("role", who.role().wireName());
        send(ctx, 200, body);
    }

    /** {@code POST /api/v1/tokens}: an API token for an account's name and password (turnout login). */
    private void issueToken(RoutingContext ctx) {
        Credentials given = credentials(ctx, false);
        if (given == null) {
            return;
        }
        String from = String.valueOf(ctx.request().remoteAddress());
        String address = ctx.request().remoteAddress() == null ? "" : ctx.request().remoteAddress().host();
        if (throttled(ctx, given.name(), address)) {
            return;
        }
        offEventLoop(ctx, () -> accounts.login(given.name(), given.password(), from), issued -> {
            if (issued.isEmpty()) {
                LOG.info("refused an API token to {} from {}: wrong name or password", given.name(), from);
                throttle.failed(given.name(), address);
                refuse(ctx, 401, "wrong name or password", false);
                return;
            }
            throttle.succeeded(given.name(), address);
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("name", issued.get().account().name());
            body.put("role", issued.get().account().role().wireName());
            body.put("token", issued.get().token());
            body.put("expiresAt", JsonViews.timestamp(issued.get().expiresAt()));
            send(ctx, 201, body);
        });
    }

    /** {@code DELETE /api/v1/tokens/current}: ends the API token of the request (turnout logout). */
    private void endToken(RoutingContext ctx) {
        Principal p = principal(ctx);
        String authorization = ctx.request().getHeader(HttpHeaders.AUTHORIZATION);
        if (p == null || p.kind() != Kind.OPERATOR || authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)
                || token.matches(authorization.substring(7).trim())) {
            send(ctx, 400, Map.of("error", "this ends the API token the request is sent with (from turnout login); the operator"
                    + " token is ended by rotating it (turnout token rotate)"));
            return;
        }
        String bearer = authorization.substring(7).trim();
        offEventLoop(ctx, () -> accounts.logout(bearer, p.name()), ended -> send(ctx, 200, Map.of("name", p.name(), "ended", ended)));
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

    /** Ends every dashboard session opened with the operator token (after the token changed). */
    public void endSessions() {
        sessions.values().removeIf(Session::builtIn);
    }
}
