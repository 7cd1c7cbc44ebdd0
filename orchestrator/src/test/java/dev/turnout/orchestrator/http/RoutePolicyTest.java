package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.http.RoutePolicy.Access;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.assertj.core.api.Assertions.assertThat;

/** What a request needs, as the guard reads it from {@link RoutePolicy}: a table of requests and their access. */
class RoutePolicyTest {

    @ParameterizedTest(name = "{0} {1} -> {2}")
    @CsvSource({
            // the rule of the route, parameters matched by position
            "GET,    /api/v1/devices,                    VIEWER",
            "GET,    /api/v1/devices/pi-7,               VIEWER",
            "POST,   /api/v1/devices,                    ADMIN",
            "POST,   /api/v1/devices/pi-7/labels,        ADMIN",
            "POST,   /api/v1/rollouts/r-1/abort,         DEPLOYER",
            "PUT,    /api/v1/apps/web/floor,             DEPLOYER",
            "GET,    /api/v1/apps/web/floor,             VIEWER",
            "GET,    /api/v1/backup,                     ADMIN",
            "POST,   /api/v1/operators/vera/password,    SELF",
            "POST,   /api/v1/operators/vera/revoke,      ADMIN",
            "DELETE, /api/v1/tokens/current,             VIEWER",
            "POST,   /api/v1/tokens,                     PUBLIC",
            "GET,    /api/v1/releases/web/1.0.0/bundle,  VIEWER",
            // HEAD takes the GET rule when it has none of its own
            "HEAD,   /api/v1/artifacts/sha256:ab,        VIEWER",
            "HEAD,   /api/v1/devices,                    VIEWER",
            // the dashboard's files are public; anything else without a rule is for admins (deny by default)
            "GET,    /,                                  PUBLIC",
            "GET,    /app.js,                            PUBLIC",
            "POST,   /app.js,                            ADMIN",
            "GET,    /api/v1/webhooks,                   ADMIN",
            "GET,    /api/v1/devices/pi-7/secrets,       ADMIN",
            "GET,    /api,                               ADMIN",
            "DELETE, /api/v1/devices/pi-7,               ADMIN",
            "GET,    /api/v1/devices/,                   ADMIN",
    })
    void aRequestNeedsWhatItsRuleSays(String method, String path, Access expected) {
        assertThat(RoutePolicy.accessFor(method, path)).isEqualTo(expected);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
            "POST, /api/v1/operators/{name}/password",
            "POST, /api/v1/rollouts/{id}/{action}",
            "GET,  /api/v1/releases/{app}/{version}",
    })
    void contractTemplatesFindTheirRule(String method, String template) {
        assertThat(RoutePolicy.ruleFor(method, template)).isPresent();
    }

    @org.junit.jupiter.api.Test
    void everyRuleIsOneOperationAndTheTableHasNoTwins() {
        assertThat(RoutePolicy.rules()).extracting(r -> r.method() + " " + r.path()).doesNotHaveDuplicates()
                .allMatch(op -> op.matches("(GET|HEAD|POST|PUT|PATCH|DELETE) /\\S*"));
    }
}
