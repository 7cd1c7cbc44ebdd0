package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.engine.DownloadBoard;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.store.FleetStore;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** {@code GET /api/v1/devices} and {@code GET /api/v1/devices/:id}: the inventory with each device's apps and desired state. */
final class DeviceRoutes {

    private final ApiExchange exchange;
    private final FleetStore store;
    private final DownloadBoard downloads;
    private final java.time.Clock clock;

    DeviceRoutes(ApiExchange exchange, FleetStore store, DownloadBoard downloads, java.time.Clock clock) {
        this.clock = clock;
        this.exchange = exchange;
        this.store = store;
        this.downloads = downloads;
    }

    void mountOn(Router router) {
        router.get("/api/v1/devices").handler(this::listDevices);
        router.get("/api/v1/devices/:id").handler(this::getDevice);
    }

    private void listDevices(RoutingContext ctx) {
        exchange.blocking(ctx, () -> {
            List<Object> devices = new ArrayList<>();
            store.listDevices().forEach(d -> devices.add(view(d)));
            return Map.of("devices", devices);
        }, v -> exchange.ok(ctx, 200, v));
    }

    private void getDevice(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        exchange.blocking(ctx, () -> view(store.findDevice(id)
                .orElseThrow(() -> new NotFoundException("device " + id + " is not enrolled"))), v -> exchange.ok(ctx, 200, v));
    }

    /** A device as the API shows it (reads the store: call it off the event loop). */
    Map<String, Object> view(Device d) {
        return JsonViews.device(d, store.deviceApps(d.id()), store.findDesired(d.id()).orElse(null), downloads, clock.instant());
    }
}
