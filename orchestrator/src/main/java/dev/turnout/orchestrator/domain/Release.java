package dev.turnout.orchestrator.domain;

import java.time.Instant;
import java.util.List;

/**
 * An app version with its images per platform and its container and health spec; or, for a multi-container app,
 * its Compose file ({@code compose}, else null) with one image per service image and platform; or, for the reserved
 * app {@value dev.turnout.proto.agent.AgentDistribution#APP}, a release of the edge daemon itself: its one artifact,
 * listed among the images under the platform {@value #AGENT_PLATFORM}, is the daemon's distribution (a tar.gz),
 * stored and served like an image archive ({@link #agent()}).
 */
public record Release(String app, String version, Instant createdAt, List<ReleaseImage> images, ReleaseSpec spec,
                      ReleaseCompose compose) {

    /** A single-container release. */
    public Release(String app, String version, Instant createdAt, List<ReleaseImage> images, ReleaseSpec spec) {
        this(app, version, createdAt, images, spec, null);
    }

    /** The platform an agent release lists its distribution under: the daemon runs on the JVM, on every platform. */
    public static final String AGENT_PLATFORM = "all";

    /** An agent release: version {@code version} of the edge daemon, whose distribution is {@code distribution}. */
    public static Release agent(String version, Instant createdAt, Artifact distribution) {
        return new Release(dev.turnout.proto.agent.AgentDistribution.APP, version, createdAt,
                List.of(new ReleaseImage(AGENT_PLATFORM, distribution.digest(), distribution.size(), "", distribution.imageRef())),
                new ReleaseSpec(null, null), null);
    }

    /** Whether this is a release of the edge daemon itself (the reserved app name). */
    public boolean isAgent() {
        return dev.turnout.proto.agent.AgentDistribution.isAgent(app);
    }

    /** The daemon's distribution of an agent release; null for an app release. */
    public ReleaseImage agent() {
        return isAgent() && !images.isEmpty() ? images.get(0) : null;
    }

    public String key() {
        return app + ":" + version;
    }
}
