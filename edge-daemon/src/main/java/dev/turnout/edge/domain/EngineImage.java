package dev.turnout.edge.domain;

import java.util.List;

/**
 * An image as the container engine reports it: its id (the config digest on the classic image store, the manifest
 * digest on the containerd store) and its layers (RootFS diff ids, the same on both stores).
 */
public record EngineImage(String id, List<String> layers) {

    public EngineImage {
        layers = List.copyOf(layers);
    }
}
