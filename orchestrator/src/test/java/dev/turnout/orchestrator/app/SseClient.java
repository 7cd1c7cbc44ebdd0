package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;
import java.util.stream.Stream;


/** Reads a server-sent event stream with the JDK's HTTP client, frame by frame, as a browser would. */
final class SseClient implements AutoCloseable {

    record Frame(long id, String event, JsonNode data) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    final HttpResponse<Stream<String>> response;
    private final List<Frame> frames = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Void> reader;

    SseClient(HttpClient http, String url, String lastEventId, String operatorToken) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).header("Accept", "text/event-stream");
        if (operatorToken != null) {
            request.header("Authorization", "Bearer " + operatorToken);
        }
        if (lastEventId != null) {
            request.header("Last-Event-ID", lastEventId);
        }
        response = http.send(request.build(), HttpResponse.BodyHandlers.ofLines());
        reader = CompletableFuture.runAsync(() -> {
            long id = -1;
            String event = null;
            StringBuilder data = new StringBuilder();
            var lines = response.body().iterator();
            while (lines.hasNext()) {
                String line = lines.next();
                if (line.isEmpty()) {
                    if (data.length() > 0) {
                        try {
                            frames.add(new Frame(id, event, JSON.readTree(data.toString())));
                        } catch (Exception e) {
                            throw new IllegalStateException("not JSON: " + data, e);
                        }
                    }
                    id = -1;
                    event = null;
                    data.setLength(0);
                } else if (line.startsWith("id: ")) {
                    id = Long.parseLong(line.substring(4));
                } else if (line.startsWith("event: ")) {
                    event = line.substring(7);
                } else if (line.startsWith("data: ")) {
                    data.append(line.substring(6));
                }
            }
        });
    }

    List<Frame> frames() {
        return new ArrayList<>(frames);
    }

    /** Waits until a frame matches and returns it. */
    Frame await(Predicate<Frame> matching, Duration atMost) {
        org.awaitility.Awaitility.await().atMost(atMost).until(() -> frames.stream().anyMatch(matching));
        return frames.stream().filter(matching).findFirst().orElseThrow();
    }

    @Override
    public void close() {
        reader.cancel(true);
        response.body().close();
    }
}
