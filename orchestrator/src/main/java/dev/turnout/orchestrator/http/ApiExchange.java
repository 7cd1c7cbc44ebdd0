package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.ext.web.RoutingContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * How every API call is read, run and answered: a JSON body in (unknown fields refused), the work
 * on a worker thread or the engine's thread (never the event loop), and JSON out, with the
 * domain's refusals as 400, 403, 404 and 409 and anything else as 500.
 */
final class ApiExchange {

    private static final Logger LOG = LoggerFactory.getLogger(ApiExchange.class);

    private final Vertx vertx;
    private final Executor engineExecutor;
    private final ObjectMapper json = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    ApiExchange(Vertx vertx, Executor engineExecutor) {
        this.vertx = vertx;
        this.engineExecutor = engineExecutor;
    }

    Vertx vertx() {
        return vertx;
    }

    /** Hands the request's JSON body, read as {@code type}, to {@code handle}; answers 400 when it cannot be read. */
    <T> void withJsonBody(RoutingContext ctx, Class<T> type, Consumer<T> handle) {
        T body;
        try {
            body = parse(ctx, type);
        } catch (RuntimeException e) {
            fail(ctx, e);
            return;
        }
        handle.accept(body);
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

    /**
     * Who asks, for the audit trail: the caller {@link ApiAuth} authenticated (an operator account, {@code admin} for the
     * operator token, a monitor); {@code api} on a public route. Nothing the client says about itself counts.
     */
    static String actor(RoutingContext ctx) {
        ApiAuth.Principal who = ApiAuth.principal(ctx);
        return who == null ? "api" : who.name();
    }

    /** Runs {@code work} (store, disk) on a worker thread; its result goes to {@code onSuccess}, its failure is answered. */
    <T> void blocking(RoutingContext ctx, Callable<T> work, Consumer<T> onSuccess) {
        vertx.executeBlocking(work, false).onSuccess(onSuccess::accept).onFailure(e -> fail(ctx, e));
    }

    /** Runs {@code work} on the engine's thread; the future completes on the caller's Vert.x context. */
    <T> Future<T> onEngine(Supplier<T> work) {
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

    /** Runs {@code work} on the engine's thread and answers with its result. */
    void onEngine(RoutingContext ctx, int status, Supplier<?> work) {
        onEngine(work).onSuccess(v -> ok(ctx, status, v)).onFailure(e -> fail(ctx, e));
    }

    void ok(RoutingContext ctx, int status, Object body) {
        try {
            ctx.response().setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
                    .end(Buffer.buffer(json.writeValueAsBytes(body)));
        } catch (JsonProcessingException e) {
            fail(ctx, e);
        }
    }

    void fail(RoutingContext ctx, Throwable e) {
        if (e instanceof InvalidInputException) {
            error(ctx, 400, e.getMessage());
        } else if (e instanceof NotFoundException) {
            error(ctx, 404, e.getMessage());
        } else if (e instanceof ConflictException) {
            error(ctx, 409, e.getMessage());
        } else if (e instanceof ForbiddenException || e instanceof dev.turnout.orchestrator.domain.NotPermittedException) {
            LOG.info("refused {} {}: {}", ctx.request().method(), ctx.request().path(), e.getMessage());
            error(ctx, 403, e.getMessage());
        } else if (dev.turnout.orchestrator.store.StoreException.diskFull(e)) {
            LOG.error("{} {} refused: the disk is full", ctx.request().method(), ctx.request().path(), e);
            error(ctx, 500, "the orchestrator's disk is full: nothing was saved; free space on it and try again (" + e.getMessage() + ")");
        } else {
            LOG.error("{} {} failed", ctx.request().method(), ctx.request().path(), e);
            error(ctx, 500, "internal error: " + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        }
    }

    void error(RoutingContext ctx, int status, String message) {
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
