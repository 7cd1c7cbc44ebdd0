package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.orchestrator.domain.OperatorRole;
import dev.turnout.orchestrator.http.OpenApiContract;
import dev.turnout.orchestrator.http.RoutePolicy;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every operation of openapi.json, called over real HTTP on a running orchestrator by nobody, a
 * viewer, a deployer and an admin (operator accounts with API tokens from {@code POST /api/v1/tokens}):
 * refused with 401 or 403 exactly as {@link RoutePolicy} says, let through otherwise. The requests
 * carry bodies no route accepts ({@code {"rr-probe":true}}) and ids that do not exist, so a request
 * that is let through is answered 400 or 404 and changes nothing. A route without a rule fails here by name.
 */
class RouteRolesIT {

    private static final Set<String> METHODS = Set.of("get", "put", "post", "delete", "head", "patch");
    private static final String PROBE = "{\"rr-probe\":true}";
    /** The callers; null: no credentials. */
    private static final List<OperatorRole> CALLERS = java.util.Arrays.asList(null, OperatorRole.VIEWER, OperatorRole.DEPLOYER,
            OperatorRole.ADMIN);

    @TempDir
    Path work;

    private TestFleet fleet;
    private final OpenApiContract contract = OpenApiContract.load();
    private final Map<OperatorRole, String> passwords = new LinkedHashMap<>();
    private final Map<OperatorRole, String> tokens = new LinkedHashMap<>();

    @AfterEach
    void tearDown() {
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void everyRouteHasARuleAndTheContractSaysTheSame() {
        List<String> missing = new ArrayList<>();
        List<String> disagree = new ArrayList<>();
        forEachOperation((method, path, operation) -> {
            Optional<RoutePolicy.Rule> rule = RoutePolicy.ruleFor(method, path);
            if (rule.isEmpty()) {
                missing.add(method + " " + path);
                return;
            }
            String documented = operation.path("x-turnout-role").asText("(none)");
            String ruled = rule.get().access().name().toLowerCase(Locale.ROOT);
            if (!documented.equals(ruled)) {
                disagree.add(method + " " + path + ": openapi.json says x-turnout-role " + documented + ", RoutePolicy " + ruled);
            }
        });
        assertThat(missing).as("routes in openapi.json with no rule in RoutePolicy.RULES (add one: who may call it,"
                + " PUBLIC/VIEWER/SELF/DEPLOYER/ADMIN; without one only admins pass)").isEmpty();
        assertThat(disagree).as("openapi.json's x-turnout-role against RoutePolicy").isEmpty();
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void everyRouteRefusesExactlyTheCallersItsRuleKeepsOut() throws Exception {
        fleet = TestFleet.start(work.resolve("server"));
        List<String> problems = new ArrayList<>();
        for (OperatorRole role : OperatorRole.values()) {
            String name = name(role);
            HttpResponse<String> added = fleet.post("/api/v1/operators", "{\"name\":\"" + name + "\",\"role\":\"" + role.wireName() + "\"}");
            assertThat(added.statusCode()).as(added.body()).isEqualTo(201);
            problems.addAll(contract.check("POST", "/api/v1/operators", 201, fleet.json.readTree(added.body())));
            passwords.put(role, fleet.json.readTree(added.body()).path("password").asText());
            login(role, problems);
        }
        problems.addAll(contract.check("GET", "/api/v1/operators", 200, fleet.getJson("/api/v1/operators")));
        HttpResponse<String> session = send("GET", "/api/v1/session", OperatorRole.VIEWER);
        problems.addAll(contract.check("GET", "/api/v1/session", 200, fleet.json.readTree(session.body())));
        assertThat(fleet.json.readTree(session.body()).path("role").asText()).isEqualTo("viewer");
        assertThat(problems).as("answers that do not fit openapi.json").isEmpty();

        List<String> wrong = new ArrayList<>();
        int calls = 0;
        List<String[]> operations = new ArrayList<>();
        forEachOperation((method, path, operation) -> operations.add(new String[] {method, path}));
        for (String[] op : operations) {
            String method = op[0];
            String template = op[1];
            RoutePolicy.Rule rule = RoutePolicy.ruleFor(method, template).orElse(null);
            if (rule == null) {
                wrong.add(method + " " + template + ": no rule in RoutePolicy");
                continue;
            }
            for (OperatorRole caller : CALLERS) {
                String path = concrete(template, rule, caller);
                int status = call(method, path, caller);
                calls++;
                String who = caller == null ? "nobody" : caller.wireName();
                OperatorRole least = rule.access().least();
                if (least == null) {
                    if (status == 401 || status == 403) {
                        wrong.add(method + " " + path + " is public, yet " + who + " got " + status);
                    }
                } else if (caller == null) {
                    if (status != 401) {
                        wrong.add(method + " " + path + " without credentials: " + status + ", not 401");
                    }
                } else if (caller.includes(least)) {
                    if (status == 401 || status == 403) {
                        wrong.add(method + " " + path + " needs " + least.wireName() + ", yet " + who + " got " + status);
                    }
                } else if (status != 403) {
                    wrong.add(method + " " + path + " needs " + least.wireName() + ", yet " + who + " got " + status + ", not 403");
                }
                if (method.equals("DELETE") && template.equals("/api/v1/tokens/current") && caller != null) {
                    login(caller, problems); // that call ended the caller's token (as it should)
                }
            }
        }
        assertThat(wrong).as("routes whose answers disagree with RoutePolicy").isEmpty();
        assertThat(calls).isGreaterThan(4 * 35);
        // the probes changed nothing: no device, release, rollout or user appeared
        assertThat(fleet.getJson("/api/v1/devices").path("devices")).isEmpty();
        assertThat(fleet.getJson("/api/v1/releases").path("releases")).isEmpty();
        assertThat(fleet.getJson("/api/v1/rollouts").path("rollouts")).isEmpty();
        assertThat(fleet.getJson("/api/v1/operators").path("operators")).hasSize(4);
    }

    private static String name(OperatorRole role) {
        return "rr-" + role.wireName();
    }

    /** The template's parameters as ids that do not exist; a SELF route's name as the caller's own. */
    private static String concrete(String template, RoutePolicy.Rule rule, OperatorRole caller) {
        String path = template;
        if (rule.access() == RoutePolicy.Access.SELF) {
            path = path.replace("{name}", caller == null ? "nobody" : name(caller));
        }
        return path.replaceAll("\\{[^}/]+}", "rr-none");
    }

    private void login(OperatorRole role, List<String> problems) throws Exception {
        HttpResponse<String> issued = fleet.http.send(HttpRequest.newBuilder(URI.create(fleet.url() + "/api/v1/tokens"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"" + name(role) + "\",\"password\":\"" + passwords.get(role) + "\"}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(issued.statusCode()).as(issued.body()).isEqualTo(201);
        problems.addAll(contract.check("POST", "/api/v1/tokens", 201, fleet.json.readTree(issued.body())));
        tokens.put(role, fleet.json.readTree(issued.body()).path("token").asText());
    }

    private HttpResponse<String> send(String method, String path, OperatorRole caller) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(fleet.url() + path)).method(method, HttpRequest.BodyPublishers.noBody());
        if (caller != null) {
            request.header("Authorization", "Bearer " + tokens.get(caller));
        }
        return fleet.http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** One call; only the status is read (event streams never end, backups are large). */
    private int call(String method, String path, OperatorRole caller) throws Exception {
        boolean withBody = method.equals("POST") || method.equals("PUT") || method.equals("PATCH");
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(fleet.url() + path)).timeout(java.time.Duration.ofSeconds(30))
                .method(method, withBody ? HttpRequest.BodyPublishers.ofString(PROBE) : HttpRequest.BodyPublishers.noBody());
        if (withBody) {
            request.header("Content-Type", "application/json");
        }
        if (caller != null) {
            request.header("Authorization", "Bearer " + tokens.get(caller));
        }
        HttpResponse<InputStream> response = fleet.http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
        response.body().close();
        return response.statusCode();
    }

    @FunctionalInterface
    private interface OperationVisitor {
        void visit(String method, String path, JsonNode operation) throws Exception;
    }

    private void forEachOperation(OperationVisitor visitor) {
        Iterator<Map.Entry<String, JsonNode>> paths = contract.document().path("paths").fields();
        while (paths.hasNext()) {
            Map.Entry<String, JsonNode> path = paths.next();
            Iterator<Map.Entry<String, JsonNode>> operations = path.getValue().fields();
            while (operations.hasNext()) {
                Map.Entry<String, JsonNode> operation = operations.next();
                if (METHODS.contains(operation.getKey())) {
                    try {
                        visitor.visit(operation.getKey().toUpperCase(Locale.ROOT), path.getKey(), operation.getValue());
                    } catch (Exception e) {
                        throw new IllegalStateException(operation.getKey() + " " + path.getKey() + ": " + e, e);
                    }
                }
            }
        }
    }
}
