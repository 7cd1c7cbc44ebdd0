package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.SpecVersion;
import io.swagger.v3.parser.OpenAPIV3Parser;
import io.swagger.v3.parser.core.models.ParseOptions;
import io.swagger.v3.parser.core.models.SwaggerParseResult;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code openapi.json} is a valid OpenAPI 3.1 description whose references all resolve. */
class OpenApiContractTest {

    private final OpenApiContract contract = OpenApiContract.load();

    @Test
    void swaggerParserReadsItAsOpenApi31WithoutAMessage() {
        ParseOptions options = new ParseOptions();
        options.setResolve(true);
        SwaggerParseResult result = new OpenAPIV3Parser().readContents(contract.text(), null, options);
        assertThat(result.getMessages()).as("swagger-parser's messages").isEmpty();
        OpenAPI api = result.getOpenAPI();
        assertThat(api).isNotNull();
        assertThat(api.getSpecVersion()).isEqualTo(SpecVersion.V31);
        assertThat(api.getOpenapi()).startsWith("3.1.");
        assertThat(api.getPaths()).hasSizeGreaterThan(20);
    }

    @Test
    void everyReferenceResolvesAndEveryOperationIsComplete() {
        JsonNode doc = contract.document();
        List<String> dangling = new ArrayList<>();
        collectRefs(doc, doc, dangling);
        assertThat(dangling).as("$refs that point nowhere").isEmpty();

        Set<String> operationIds = new HashSet<>();
        doc.path("paths").fields().forEachRemaining(path -> path.getValue().fields().forEachRemaining(op -> {
            String where = op.getKey() + " " + path.getKey();
            assertThat(operationIds.add(op.getValue().path("operationId").asText())).as("unique operationId: " + where).isTrue();
            assertThat(op.getValue().path("summary").asText()).as("summary of " + where).isNotBlank();
            JsonNode responses = op.getValue().path("responses");
            assertThat(responses.size()).as("responses of " + where).isPositive();
            responses.fields().forEachRemaining(r -> {
                int status = Integer.parseInt(r.getKey());
                JsonNode response = contract.resolve(r.getValue());
                if (status >= 400 && !path.getKey().equals("/metrics")) {
                    assertThat(response.path("content").path("application/json").path("schema").path("$ref").asText())
                            .as("errors of " + where + " are Error bodies").isEqualTo("#/components/schemas/Error");
                }
            });
            // every {parameter} of the path is declared
            for (String segment : path.getKey().split("/")) {
                if (segment.startsWith("{")) {
                    String name = segment.substring(1, segment.length() - 1);
                    boolean declared = false;
                    for (JsonNode p : op.getValue().path("parameters")) {
                        JsonNode param = contract.resolve(p);
                        declared |= param.path("in").asText().equals("path") && param.path("name").asText().equals(name);
                    }
                    assertThat(declared).as(where + " declares its path parameter " + name).isTrue();
                }
            }
        }));
    }

    @Test
    void theContractIsPublicAndEverythingElseNamesItsCredentials() {
        JsonNode doc = contract.document();
        assertThat(doc.path("paths").path("/api/openapi.json").path("get").path("security").toString()).isEqualTo("[{}]");
        assertThat(doc.path("security")).as("by default: the operator").isNotEmpty();
        Map<String, String> publicOnes = Map.of("/api/v1/health", "get", "/api/v1/server", "get", "/api/v1/session", "get");
        publicOnes.forEach((path, method) -> assertThat(doc.path("paths").path(path).path(method).path("security").toString())
                .as(method + " " + path).isEqualTo("[{}]"));
    }

    private static void collectRefs(JsonNode doc, JsonNode node, List<String> dangling) {
        if (node.isObject()) {
            JsonNode ref = node.get("$ref");
            if (ref != null && ref.isTextual()) {
                String target = ref.asText();
                if (!target.startsWith("#/") || doc.at(target.substring(1)).isMissingNode()) {
                    dangling.add(target);
                }
            }
            node.elements().forEachRemaining(child -> collectRefs(doc, child, dangling));
        } else if (node.isArray()) {
            node.elements().forEachRemaining(child -> collectRefs(doc, child, dangling));
        }
    }
}
