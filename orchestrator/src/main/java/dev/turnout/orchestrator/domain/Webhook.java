package dev.turnout.orchestrator.domain;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * A receiver of event notifications: JSON POSTs to {@code url} for the events matching one of
 * {@code events} (names or globs, docs/operations.md "Webhooks"), signed with {@code secret}.
 * The secret is needed in clear to sign; it never leaves the orchestrator after the webhook's creation.
 *
 * @param id        {@code wh-} and 12 hex digits, given by the orchestrator
 * @param url       an absolute {@code http} or {@code https} URL without user info
 * @param events    the event patterns, as given ({@code rollout.*}, {@code device.failed}, {@code *})
 * @param secret    the HMAC-SHA256 key of the signatures
 * @param createdAt when it was added
 */
public record Webhook(String id, String url, List<String> events, String secret, Instant createdAt) {

    /** The longest URL accepted. */
    public static final int MAX_URL_LENGTH = 2000;
    /** The shortest secret accepted (a generated one has 43 characters). */
    public static final int MIN_SECRET_LENGTH = 16;

    public Webhook {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(url, "url");
        events = List.copyOf(events);
        Objects.requireNonNull(secret, "secret");
        Objects.requireNonNull(createdAt, "createdAt");
    }

    /** Checks a receiver URL: absolute, http or https, a host, no user info, no fragment; the normalized URL or {@link InvalidInputException}. */
    public static String checkUrl(String url) {
        if (url == null || url.isBlank()) {
            throw new InvalidInputException("a webhook needs a url (http:// or https://)");
        }
        if (url.length() > MAX_URL_LENGTH) {
            throw new InvalidInputException("the webhook url is longer than " + MAX_URL_LENGTH + " characters");
        }
        URI uri;
        try {
            uri = new URI(url.strip());
        } catch (URISyntaxException e) {
            throw new InvalidInputException("the webhook url '" + url + "' is not a valid URL: " + e.getReason());
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new InvalidInputException("the webhook url must start with http:// or https:// (got '" + url + "')");
        }
        if (uri.getHost() == null || uri.getHost().isBlank()) {
            throw new InvalidInputException("the webhook url '" + url + "' names no host");
        }
        if (uri.getRawUserInfo() != null) {
            throw new InvalidInputException("the webhook url must not carry credentials (user:password@): receivers check"
                    + " the X-Turnout-Signature header instead");
        }
        if (uri.getRawFragment() != null) {
            throw new InvalidInputException("the webhook url must not have a #fragment");
        }
        return uri.toString();
    }

    /** Checks a secret given by the operator: at least {@value #MIN_SECRET_LENGTH} characters, no line breaks. */
    public static String checkSecret(String secret) {
        if (secret == null || secret.strip().length() < MIN_SECRET_LENGTH) {
            throw new InvalidInputException("a webhook secret needs at least " + MIN_SECRET_LENGTH + " characters"
                    + " (leave it out to have one generated)");
        }
        String s = secret.strip();
        if (s.indexOf('\n') >= 0 || s.indexOf('\r') >= 0) {
            throw new InvalidInputException("a webhook secret is one line");
        }
        return s;
    }
}
