package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.domain.OperatorRole;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Who may call which route: the one table of docs/security.md ("Roles"), read by {@link ApiAuth}
 * before any route runs. Paths are written as in openapi.json with every parameter as {@code {}};
 * a request matches the rule of its method whose literal segments fit it best. A route with no rule
 * is for admins only (deny by default), and {@code RouteRolesIT} fails naming it: add its rule here
 * when you add a route.
 */
public final class RoutePolicy {

    /** The least a caller needs for a route. */
    public enum Access {
        /** Anyone, without credentials (the route holds no data, or takes credentials itself). */
        PUBLIC(null),
        /** Any operator account; monitor users too (they read); devices only their artifacts. */
        VIEWER(OperatorRole.VIEWER),
        /** Any operator account, for itself only: the route lets a non-admin act on their own name alone. */
        SELF(OperatorRole.VIEWER),
        /** Deployers and admins. */
        DEPLOYER(OperatorRole.DEPLOYER),
        /** Admins only. */
        ADMIN(OperatorRole.ADMIN);

        private final OperatorRole least;

        Access(OperatorRole least) {
            this.least = least;
        }

        /** The least role an operator needs; null for {@link #PUBLIC}. */
        public OperatorRole least() {
            return least;
        }
    }

    /** One row of the table. */
    public record Rule(String method, String path, Access access) {
    }

    private static final List<Rule> RULES = List.of(
            // public: the contract, what a device needs to join, signing in
            rule("GET /api/openapi.json", Access.PUBLIC),
            rule("GET /api/v1/health", Access.PUBLIC),
            rule("GET /api/v1/server", Access.PUBLIC),
            rule("GET /api/v1/session", Access.PUBLIC),
            rule("POST /api/v1/session", Access.PUBLIC),
            rule("DELETE /api/v1/session", Access.PUBLIC),
            rule("POST /api/v1/tokens", Access.PUBLIC),
            // public: a one-line install; the one-time token in the path is the credential (docs/install.md)
            rule("GET /install/{}", Access.PUBLIC),
            rule("GET /install/{}/turnout-edge.deb", Access.PUBLIC),
            rule("GET /install/{}/edge.yaml", Access.PUBLIC),
            // viewer: every read but backups and the operator accounts
            rule("GET /api/v1/devices", Access.VIEWER),
            rule("GET /api/v1/devices/{}", Access.VIEWER),
            rule("GET /api/v1/users", Access.VIEWER),
            rule("GET /api/v1/artifacts/{}", Access.VIEWER),
            rule("HEAD /api/v1/artifacts/{}", Access.VIEWER),
            rule("GET /api/v1/blobs/{}", Access.VIEWER),
            rule("HEAD /api/v1/blobs/{}", Access.VIEWER),
            rule("GET /api/v1/releases", Access.VIEWER),
            rule("GET /api/v1/releases/{}/{}", Access.VIEWER),
            rule("GET /api/v1/releases/{}/{}/bundle", Access.VIEWER),
            rule("GET /api/v1/apps/{}/floor", Access.VIEWER),
            rule("GET /api/v1/rollouts", Access.VIEWER),
            rule("GET /api/v1/rollouts/{}", Access.VIEWER),
            rule("GET /api/v1/audit", Access.VIEWER),
            rule("GET /api/v1/fleet/health", Access.VIEWER),
            rule("GET /api/events", Access.VIEWER),
            rule("GET /metrics", Access.VIEWER),
            rule("GET /api/v1/keys", Access.VIEWER),
            rule("DELETE /api/v1/tokens/current", Access.VIEWER),
            rule("POST /api/v1/operators/{}/password", Access.SELF),
            // deployer: releases, rollouts and their commands, rollback floors
            rule("POST /api/v1/artifacts", Access.DEPLOYER),
            rule("POST /api/v1/releases", Access.DEPLOYER),
            rule("POST /api/v1/agent/releases/{}", Access.DEPLOYER),
            rule("PUT /api/v1/apps/{}/floor", Access.DEPLOYER),
            rule("POST /api/v1/apps/{}/remove", Access.DEPLOYER),
            // deployer, though a read: a device's live log is the app's own output (more than the failure tails viewers
            // see), and each request makes the device work; monitor users (VIEWER) must not pull it either
            rule("GET /api/v1/devices/{}/logs/{}", Access.DEPLOYER),
            rule("POST /api/v1/rollouts", Access.DEPLOYER),
            rule("POST /api/v1/rollouts/{}/{}", Access.DEPLOYER),
            // admin: who is in the fleet and who operates it, backups, the operator token, the signing keys
            rule("POST /api/v1/devices", Access.ADMIN),
            rule("POST /api/v1/devices/{}/revoke", Access.ADMIN),
            rule("POST /api/v1/devices/{}/labels", Access.ADMIN),
            rule("POST /api/v1/devices/{}/groups", Access.ADMIN),
            rule("POST /api/v1/users", Access.ADMIN),
            rule("POST /api/v1/users/{}/revoke", Access.ADMIN),
            rule("GET /api/v1/operators", Access.ADMIN),
            rule("POST /api/v1/operators", Access.ADMIN),
            rule("POST /api/v1/operators/{}/revoke", Access.ADMIN),
            rule("GET /api/v1/backup", Access.ADMIN),
            rule("POST /api/v1/token/rotate", Access.ADMIN),
            rule("POST /api/v1/keys/rotate", Access.ADMIN),
            rule("POST /api/v1/keys/activate", Access.ADMIN),
            rule("DELETE /api/v1/keys/{}", Access.ADMIN),
            // admin, reads included: a webhook's URL and delivery log say where fleet events go
            rule("GET /api/v1/webhooks", Access.ADMIN),
            rule("POST /api/v1/webhooks", Access.ADMIN),
            rule("GET /api/v1/webhooks/deliveries", Access.ADMIN),
            rule("DELETE /api/v1/webhooks/{}", Access.ADMIN),
            rule("GET /api/v1/webhooks/{}/deliveries", Access.ADMIN),
            rule("POST /api/v1/webhooks/{}/test", Access.ADMIN));

    private RoutePolicy() {
    }

    private static Rule rule(String operation, Access access) {
        int space = operation.indexOf(' ');
        return new Rule(operation.substring(0, space), operation.substring(space + 1), access);
    }

    /** Every rule, in table order. */
    public static List<Rule> rules() {
        return RULES;
    }

    /**
     * The rule for {@code method} on {@code path} (a request's path, or a template with {@code {}} or
     * {@code {name}} parameters); empty when the table has none. HEAD falls back to the GET rule.
     */
    public static Optional<Rule> ruleFor(String method, String path) {
        String m = method.toUpperCase(Locale.ROOT);
        Optional<Rule> found = best(m, path);
        if (found.isEmpty() && m.equals("HEAD")) {
            found = best("GET", path);
        }
        return found;
    }

    /**
     * What a request needs: its rule; the dashboard's own files (any GET or HEAD outside {@code /api}
     * and {@code /metrics}) are public; anything else with no rule is for admins only.
     */
    public static Access accessFor(String method, String path) {
        Optional<Rule> rule = ruleFor(method, path);
        if (rule.isPresent()) {
            return rule.get().access();
        }
        boolean read = method.equalsIgnoreCase("GET") || method.equalsIgnoreCase("HEAD");
        if (read && !path.startsWith("/api/") && !path.equals("/api") && !path.equals("/metrics")) {
            return Access.PUBLIC; // the dashboard's HTML, JavaScript and CSS: no data in them
        }
        return Access.ADMIN;
    }

    private static Optional<Rule> best(String method, String path) {
        String[] segments = segments(path);
        Rule best = null;
        int bestLiterals = -1;
        for (Rule rule : RULES) {
            if (!rule.method().equals(method)) {
                continue;
            }
            String[] pattern = segments(rule.path());
            if (pattern.length != segments.length) {
                continue;
            }
            int literals = 0;
            boolean fits = true;
            for (int i = 0; i < pattern.length && fits; i++) {
                if (pattern[i].equals("{}")) {
                    fits = !segments[i].isEmpty();
                } else if (pattern[i].equals(segments[i])) {
                    literals++;
                } else {
                    fits = false;
                }
            }
            if (fits && literals > bestLiterals) {
                best = rule;
                bestLiterals = literals;
            }
        }
        return Optional.ofNullable(best);
    }

    private static String[] segments(String path) {
        List<String> parts = new ArrayList<>();
        for (String s : path.split("/", -1)) {
            parts.add(s.matches("\\{[^}/]*}") ? "{}" : s);
        }
        return parts.toArray(String[]::new);
    }
}
