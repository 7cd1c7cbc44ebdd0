package dev.turnout.orchestrator.domain;

import java.time.Instant;
import java.util.List;

/** An app version with its images per platform and its container and health spec. */
public record Release(String app, String version, Instant createdAt, List<ReleaseImage> images, ReleaseSpec spec) {

    public String key() {
        return app + ":" + version;
    }
}
