package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.dialect.OpenApi31;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The hand-written OpenAPI description the orchestrator serves at {@code /api/openapi.json}, read
 * for tests: its operations as {@code "METHOD /path/{}"} and a check of an answer against the
 * response schema it declares (JSON Schema 2020-12 with the OpenAPI 3.1 dialect, networknt).
 */
public final class OpenApiContract {

    private static final Set<String> METHODS = Set.of("get", "put", "post", "delete", "options", "head", "patch", "trace");

    private final String text;
    private final JsonNode document;
    private final SchemaRegistry schemas = SchemaRegistry.withDefaultDialect(OpenApi31.getInstance());

    private OpenApiContract(String text) {
        this.text = text;
        try {
            this.document = new ObjectMapper().readTree(text);
        } catch (IOException e) {
            throw new UncheckedIOException("openapi.json is not JSON", e);
        }
    }

    /** The resource the server serves. */
    public static OpenApiContract load() {
        try (InputStream in = ServerRoutes.class.getResourceAsStream(ServerRoutes.CONTRACT)) {
            if (in == null) {
                throw new IllegalStateException("no " + ServerRoutes.CONTRACT + " beside " + ServerRoutes.class.getName());
            }
            return new OpenApiContract(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public String text() {
        return text;
    }

    public JsonNode document() {
        return document;
    }

    /** Every operation as {@code "GET /api/v1/devices/{}"}: the method in capitals, path parameters as {@code {}}. */
    public Set<String> operations() {
        Set<String> operations = new TreeSet<>();
        Iterator<Map.Entry<String, JsonNode>> paths = document.path("paths").fields();
        while (paths.hasNext()) {
            Map.Entry<String, JsonNode> path = paths.next();
            path.getValue().fieldNames().forEachRemaining(method -> {
                if (METHODS.contains(method)) {
                    operations.add(method.toUpperCase(Locale.ROOT) + " " + normalize(path.getKey()));
                }
            });
        }
        return operations;
    }

    /** A path with its parameters, Vert.x {@code :name} or OpenAPI {@code {name}}, written {@code {}}. */
    public static String normalize(String path) {
        return path.replaceAll(":[A-Za-z0-9_]+", "{}").replaceAll("\\{[^}/]+}", "{}");
    }

    /**
     * What is wrong with {@code body} as the answer {@code status} of {@code method path} (a path as
     * the contract writes it, e.g. {@code /api/v1/devices/{id}}); empty when it fits the schema.
     */
    public List<String> check(String method, String path, int status, JsonNode body) {
        JsonNode operation = document.path("paths").path(path).path(method.toLowerCase(Locale.ROOT));
        if (operation.isMissingNode()) {
            return List.of("the contract has no " + method + " " + path);
        }
        JsonNode response = resolve(operation.path("responses").path(Integer.toString(status)));
        if (response.isMissingNode()) {
            return List.of("the contract has no answer " + status + " for " + method + " " + path);
        }
        JsonNode schema = response.path("content").path("application/json").path("schema");
        if (schema.isMissingNode()) {
            return List.of("the contract has no JSON schema for " + status + " of " + method + " " + path);
        }
        // the schema and the components its $refs name, in one document whose root is the schema
        ObjectNode wrapper = new ObjectMapper().createObjectNode();
        wrapper.put("$ref", "#/$defs/answer");
        wrapper.putObject("$defs").set("answer", schema);
        wrapper.set("components", document.path("components"));
        Schema compiled = schemas.getSchema(wrapper);
        List<String> problems = new ArrayList<>();
        for (Error e : compiled.validate(body)) {
            problems.add(method + " " + path + " " + status + ": " + e);
        }
        return problems;
    }

    /** Follows a {@code $ref} within the document (one level). */
    public JsonNode resolve(JsonNode node) {
        JsonNode ref = node.path("$ref");
        if (!ref.isTextual()) {
            return node;
        }
        return document.at(ref.asText().substring(1));
    }
}
