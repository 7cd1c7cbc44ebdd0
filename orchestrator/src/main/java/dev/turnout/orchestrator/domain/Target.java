package dev.turnout.orchestrator.domain;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;

/** Which devices a rollout addresses: {@code all}, {@code device:a,b}, {@code group:g} or {@code label:k=v}. */
public record Target(Kind kind, List<String> values) {

    /** How a target selects devices. */
    public enum Kind {
        /** Every enrolled device. */
        ALL,
        /** The listed device ids. */
        DEVICE,
        /** Devices in the named group. */
        GROUP,
        /** Devices whose label has the given value. */
        LABEL
    }

    public static Target parse(String text) {
        if (text == null || text.isBlank() || text.trim().equals("all")) {
            return new Target(Kind.ALL, List.of());
        }
        String s = text.trim();
        int colon = s.indexOf(':');
        if (colon < 0) {
            throw invalid(text);
        }
        String kind = s.substring(0, colon).toLowerCase(Locale.ROOT);
        String rest = s.substring(colon + 1).trim();
        switch (kind) {
            case "device" -> {
                List<String> ids = new ArrayList<>();
                for (String id : rest.split(",")) {
                    if (!id.isBlank()) {
                        ids.add(id.trim());
                    }
                }
                if (ids.isEmpty()) {
                    throw invalid(text);
                }
                return new Target(Kind.DEVICE, List.copyOf(ids));
            }
            case "group" -> {
                if (rest.isEmpty()) {
                    throw invalid(text);
                }
                return new Target(Kind.GROUP, List.of(rest));
            }
            case "label" -> {
                int eq = rest.indexOf('=');
                if (eq <= 0) {
                    throw invalid(text);
                }
                return new Target(Kind.LABEL, List.of(rest.substring(0, eq).trim(), rest.substring(eq + 1).trim()));
            }
            default -> throw invalid(text);
        }
    }

    private static InvalidInputException invalid(String text) {
        return new InvalidInputException("target '" + text
                + "' must be all, device:ID[,ID...], group:NAME or label:KEY=VALUE");
    }

    public boolean matches(Device device) {
        return switch (kind) {
            case ALL -> true;
            case DEVICE -> values.contains(device.id());
            case GROUP -> device.groups().contains(values.get(0));
            case LABEL -> values.get(1).equals(device.labels().get(values.get(0)));
        };
    }

    /** Ids of the matching devices, sorted. */
    public List<String> select(Collection<Device> inventory) {
        return inventory.stream().filter(this::matches).map(Device::id).sorted().toList();
    }

    @Override
    public String toString() {
        return switch (kind) {
            case ALL -> "all";
            case DEVICE -> "device:" + String.join(",", values);
            case GROUP -> "group:" + values.get(0);
            case LABEL -> "label:" + values.get(0) + "=" + values.get(1);
        };
    }
}
