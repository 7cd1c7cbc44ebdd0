package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.orchestrator.http.OpenApiContract;
import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.Route;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The running orchestrator and {@code /api/openapi.json} agree: every route its router serves is
 * described and every described operation is served; the contract is served without credentials;
 * and the answers of the main calls fit the schemas the contract declares for them.
 */
class OpenApiContractIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path work;

    private TestFleet fleet;
    private final OpenApiContract contract = OpenApiContract.load();

    @AfterEach
    void tearDown() {
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void everyServedRouteIsDescribedAndEveryDescribedOperationIsServed() throws Exception {
        fleet = TestFleet.start(work.resolve("server"));
        Set<String> served = new TreeSet<>();
        List<String> unexpected = new ArrayList<>();
        for (Route route : fleet.server.httpRoutes()) {
            String path = route.getPath();
            if (path == null) {
                // Vert.x keeps a regex for paths with :parameters too, but those keep their path
                if (route.isRegexPath()) {
                    unexpected.add("a route by regular expression: describe it in openapi.json and teach this test to match it: " + route);
                }
                continue; // else the credential guard, which runs before every route (router.route())
            }
            if (!route.isExactPath() && path.equals("/")) {
                continue; // the dashboard's static files (GET /*): not part of the API
            }
            if (route.methods() == null || route.methods().isEmpty() || !route.isExactPath()) {
                unexpected.add("a route for every method or a path prefix: " + path);
                continue;
            }
            for (HttpMethod method : route.methods()) {
                served.add(method.name() + " " + OpenApiContract.normalize(path));
            }
        }
        assertThat(unexpected).isEmpty();
        assertThat(served).as("served by the router").hasSizeGreaterThan(20);
        Set<String> described = contract.operations();
        assertThat(minus(served, described)).as("routes the router serves that openapi.json does not describe").isEmpty();
        assertThat(minus(described, served)).as("operations openapi.json describes that the router does not serve").isEmpty();
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void theContractIsServedWithoutCredentialsAndAnswersFitIt() throws Exception {
        fleet = TestFleet.start(work.resolve("server"));
        HttpResponse<String> served = fleet.http.send(HttpRequest.newBuilder(URI.create(fleet.url() + "/api/openapi.json")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(served.statusCode()).isEqualTo(200);
        assertThat(served.headers().firstValue("Content-Type").orElse("")).startsWith("application/json");
        assertThat(fleet.json.readTree(served.body())).isEqualTo(contract.document());

        fleet.createReleases("1.0.0", "2.0.0");
        fleet.device("api-a", Map.of("site", "attic"), Set.of());
        fleet.device("api-b", Map.of(), Set.of());
        await().atMost(WAIT).until(() -> fleet.countOnline() == 2);
        String rollout = fleet.rollout("1.0.0", "1,100%", "rollback", false);
        await().atMost(WAIT).until(() -> fleet.state(rollout).equals("SUCCEEDED"));
        HttpResponse<String> user = fleet.post("/api/v1/users", "{\"name\":\"grafana\",\"role\":\"monitor\"}");

        List<String> problems = new ArrayList<>();
        problems.addAll(contract.check("POST", "/api/v1/users", user.statusCode(), fleet.json.readTree(user.body())));
        problems.addAll(fits("GET", "/api/v1/health", "/api/v1/health", 200));
        problems.addAll(fits("GET", "/api/v1/server", "/api/v1/server", 200));
        problems.addAll(fits("GET", "/api/v1/session", "/api/v1/session", 200));
        problems.addAll(fits("GET", "/api/v1/devices", "/api/v1/devices", 200));
        problems.addAll(fits("GET", "/api/v1/devices/{id}", "/api/v1/devices/api-a", 200));
        problems.addAll(fits("GET", "/api/v1/devices/{id}", "/api/v1/devices/nobody", 404));
        problems.addAll(fits("GET", "/api/v1/users", "/api/v1/users", 200));
        problems.addAll(fits("GET", "/api/v1/releases", "/api/v1/releases", 200));
        problems.addAll(fits("GET", "/api/v1/releases/{app}/{version}", "/api/v1/releases/web/1.0.0", 200));
        problems.addAll(fits("GET", "/api/v1/rollouts", "/api/v1/rollouts", 200));
        problems.addAll(fits("GET", "/api/v1/rollouts/{id}", "/api/v1/rollouts/" + rollout, 200));
        problems.addAll(fits("GET", "/api/v1/audit", "/api/v1/audit?subject=" + rollout, 200));
        problems.addAll(fits("GET", "/api/v1/fleet/health", "/api/v1/fleet/health", 200));

        HttpResponse<String> dryRun = fleet.post("/api/v1/rollouts", """
                {"app":"web","version":"2.0.0","target":"all","waves":["1","100%"],"dryRun":true}""");
        problems.addAll(contract.check("POST", "/api/v1/rollouts", dryRun.statusCode(), fleet.json.readTree(dryRun.body())));
        assertThat(dryRun.statusCode()).isEqualTo(200);
        HttpResponse<String> badAction = fleet.post("/api/v1/rollouts/" + rollout + "/explode", "");
        assertThat(badAction.statusCode()).isEqualTo(404);
        problems.addAll(contract.check("POST", "/api/v1/rollouts/{id}/{action}", 404, fleet.json.readTree(badAction.body())));
        HttpResponse<String> ended = fleet.post("/api/v1/rollouts/" + rollout + "/pause", "");
        assertThat(ended.statusCode()).isEqualTo(409);
        problems.addAll(contract.check("POST", "/api/v1/rollouts/{id}/{action}", 409, fleet.json.readTree(ended.body())));
        HttpResponse<String> anonymous = fleet.http.send(HttpRequest.newBuilder(URI.create(fleet.url() + "/api/v1/devices")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(anonymous.statusCode()).isEqualTo(401);
        problems.addAll(contract.check("GET", "/api/v1/devices", 401, fleet.json.readTree(anonymous.body())));

        assertThat(problems).isEmpty();

        // the check is not blind: a Device without its id and a Rollout in an unknown state do not fit
        JsonNode device = fleet.getJson("/api/v1/devices/api-a");
        ((com.fasterxml.jackson.databind.node.ObjectNode) device).remove("id");
        assertThat(contract.check("GET", "/api/v1/devices/{id}", 200, device)).isNotEmpty();
        JsonNode wrongState = fleet.getJson("/api/v1/rollouts/" + rollout);
        ((com.fasterxml.jackson.databind.node.ObjectNode) wrongState).put("state", "EXPLODED");
        assertThat(contract.check("GET", "/api/v1/rollouts/{id}", 200, wrongState)).isNotEmpty();
    }

    /** GETs {@code url} with the operator token and checks the answer against {@code path}'s answer {@code status}. */
    private List<String> fits(String method, String path, String url, int status) throws Exception {
        HttpResponse<String> response = fleet.http.send(HttpRequest.newBuilder(URI.create(fleet.url() + url))
                .header("Authorization", "Bearer " + fleet.server.operatorToken()).method(method, HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != status) {
            return List.of(method + " " + url + " answered " + response.statusCode() + ", not " + status + ": " + response.body());
        }
        return contract.check(method, path, status, fleet.json.readTree(response.body()));
    }

    private static Set<String> minus(Set<String> a, Set<String> b) {
        Set<String> rest = new TreeSet<>(a);
        rest.removeAll(b);
        return rest;
    }
}
