package dev.turnout.orchestrator.install;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * One-line installs (docs/install.md, "One line on the Pi"): the edge package this orchestrator hands out
 * (none: {@link #offer} refuses, naming {@code --edge-package}), the one-time tokens, and how curl on a device
 * reaches this orchestrator ({@link InstallScript#curlOptions}).
 */
public final class Installs {

    /** An install offered to a device, shown once to the operator. */
    public record Offer(String command, String scriptUrl, String scriptSha256, InstallTokens.Issued token) {
        @Override
        public String toString() {
            return "Offer[" + token.deviceId() + "]";
        }
    }

    private final EdgePackage edgePackage;
    private final InstallTokens tokens;
    private final String curlOptions;

    /**
     * @param edgePackage the package to hand out; null: none, installs are refused
     * @param curlOptions curl's options to reach this orchestrator (empty without TLS)
     */
    public Installs(EdgePackage edgePackage, InstallTokens tokens, String curlOptions) {
        this.edgePackage = edgePackage;
        this.tokens = Objects.requireNonNull(tokens, "tokens");
        this.curlOptions = Objects.requireNonNull(curlOptions, "curlOptions");
    }

    public InstallTokens tokens() {
        return tokens;
    }

    /** The edge package, when one is configured. */
    public Optional<EdgePackage> edgePackage() {
        return Optional.ofNullable(edgePackage);
    }

    /**
     * Checks an install can be offered at all (before anything is enrolled): an edge package is configured and
     * readable, and the lifetime is allowed.
     */
    public void checkOffer(Duration lifetime) {
        if (edgePackage == null) {
            throw new IllegalStateException("this orchestrator has no edge package to install: start it with"
                    + " `turnout server --edge-package FILE` (the turnout-edge_VERSION_all.deb of bin/package)");
        }
        edgePackage.check();
        if (lifetime.isNegative() || lifetime.isZero() || lifetime.compareTo(InstallTokens.MAX_LIFETIME) > 0) {
            throw new IllegalArgumentException("an install link lasts more than 0 and at most 7 days (--expires), not " + lifetime);
        }
    }

    /** Issues a token that hands {@code config} to device {@code deviceId} once, and the line that uses it. */
    public Offer offer(String deviceId, String config, String orchestratorUrl, Duration lifetime) {
        checkOffer(lifetime);
        String debSha256;
        try {
            debSha256 = edgePackage.sha256();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the edge package " + edgePackage.file() + ": " + e.getMessage(), e);
        }
        InstallTokens.Issued issued = tokens.issue(deviceId, config, lifetime);
        InstallScript.Inputs in = new InstallScript.Inputs(deviceId, orchestratorUrl, issued.token(), debSha256,
                issued.configSha256(), issued.expiresAt(), curlOptions);
        String scriptSha256 = InstallTokens.sha256Hex(InstallScript.render(in).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return new Offer(InstallScript.command(in, scriptSha256), in.base(), scriptSha256, issued);
    }

    /** The script of a valid token, as {@link #offer} hashed it (the same while the edge package does not change). */
    public String script(String token, InstallTokens.Lookup valid, String orchestratorUrl) throws IOException {
        return InstallScript.render(new InstallScript.Inputs(valid.deviceId(), orchestratorUrl, token, edgePackage.sha256(),
                valid.configSha256(), valid.expiresAt(), curlOptions));
    }
}
