package dev.turnout.orchestrator.domain;

import java.time.Instant;
import java.util.List;

/**
 * An app version with its images per platform and its container and health spec; or, for a multi-container app,
 * its Compose file ({@code compose}, else null) with one image per service image and platform.
 */
public record Release(String app, String version, Instant createdAt, List<ReleaseImage> images, ReleaseSpec spec,
                      ReleaseCompose compose) {

    /** A single-container release. */
    public Release(String app, String version, Instant createdAt, List<ReleaseImage> images, ReleaseSpec spec) {
        this(app, version, createdAt, images, spec, null);
    }

    public String key() {
        return app + ":" + version;
    }
}
