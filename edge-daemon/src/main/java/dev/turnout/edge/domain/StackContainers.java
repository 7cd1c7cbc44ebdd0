package dev.turnout.edge.domain;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The containers of a Compose app's services, by service name, in start order. An {@link AppRecord} keeps them in the
 * same fields as a single container's id, written as {@code service=id,service=id}: a single container's id never
 * holds {@code =}, so every field reads back as what it was.
 */
public record StackContainers(Map<String, String> byService) {

    public static final StackContainers NONE = new StackContainers(Map.of());

    public StackContainers {
        byService = Collections.unmodifiableMap(new LinkedHashMap<>(byService));
    }

    /** Whether a record's container field holds a stack's containers (or nothing). */
    public static boolean isStack(String field) {
        return field.contains("=");
    }

    /** A record field read back; a single id or nothing gives {@link #NONE}. */
    public static StackContainers parse(String field) {
        if (!isStack(field)) {
            return NONE;
        }
        Map<String, String> map = new LinkedHashMap<>();
        for (String pair : field.split(",")) {
            int eq = pair.indexOf('=');
            if (eq > 0) {
                map.put(pair.substring(0, eq), pair.substring(eq + 1));
            }
        }
        return new StackContainers(map);
    }

    /** Every container id a record field names: one for a single container, one per service for a stack, none for "". */
    public static List<String> ids(String field) {
        if (field.isEmpty()) {
            return List.of();
        }
        return isStack(field) ? new ArrayList<>(parse(field).byService().values()) : List.of(field);
    }

    public String id(String service) {
        return byService.get(service);
    }

    public StackContainers with(String service, String id) {
        Map<String, String> map = new LinkedHashMap<>(byService);
        map.put(service, id);
        return new StackContainers(map);
    }

    public boolean isEmpty() {
        return byService.isEmpty();
    }

    /** The record field: "" for none. */
    public String encode() {
        StringBuilder b = new StringBuilder();
        byService.forEach((service, id) -> b.append(b.length() == 0 ? "" : ",").append(service).append('=').append(id));
        return b.toString();
    }
}
