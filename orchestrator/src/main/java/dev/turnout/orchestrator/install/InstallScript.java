package dev.turnout.orchestrator.install;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.Base64;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The install script of one device ({@code install.sh} beside this class, filled in) and the one line that
 * fetches it, checks its SHA-256 and runs it. The script is the same text each time it is asked for while the
 * edge package does not change, so the hash printed in the line holds.
 */
public final class InstallScript {

    /** The file name the line saves the script under, in the current directory. */
    static final String FILE = "turnout-install.sh";
    private static final Pattern PLACEHOLDER = Pattern.compile("@@([A-Z0-9_]+)@@");
    private static final String TEMPLATE = template();

    private InstallScript() {
    }

    /** What goes into one device's script. */
    public record Inputs(String deviceId, String orchestratorUrl, String token, String debSha256, String configSha256,
                         Instant expiresAt, String curlOptions) {

        /** Where the token's files are: {@code ORCHESTRATOR/install/TOKEN}. */
        public String base() {
            return orchestratorUrl.replaceAll("/+$", "") + "/install/" + token;
        }
    }

    /** The script for {@code in}. */
    public static String render(Inputs in) {
        Map<String, String> values = Map.of(
                "DEVICE", in.deviceId(),
                "ORCHESTRATOR", in.orchestratorUrl(),
                "BASE", in.base(),
                "DEB_SHA256", in.debSha256(),
                "CONFIG_SHA256", in.configSha256(),
                "EXPIRES", in.expiresAt().toString(),
                "CURL_OPTS", in.curlOptions());
        for (String v : values.values()) {
            if (v.indexOf('\'') >= 0 || v.indexOf('\n') >= 0) { // every value goes between single quotes
                throw new IllegalArgumentException("cannot put " + v + " into the install script");
            }
        }
        Matcher m = PLACEHOLDER.matcher(TEMPLATE);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(out, Matcher.quoteReplacement(values.get(m.group(1))));
        }
        m.appendTail(out);
        return out.toString();
    }

    /**
     * The line to paste on the device: download the script, check it is the one of {@code scriptSha256} (else stop
     * before running anything), run it as root.
     */
    public static String command(Inputs in, String scriptSha256) {
        String curl = "curl -fsSL" + (in.curlOptions().isEmpty() ? "" : " " + in.curlOptions());
        return curl + " -o " + FILE + " " + in.base() + " && echo '" + scriptSha256 + "  " + FILE + "' | sha256sum -c - && sudo sh "
                + FILE;
    }

    /**
     * curl's options for an orchestrator with TLS: its certificate is not signed by a CA the device knows yet, so
     * curl skips the CA check ({@code --insecure}) and instead accepts only the server's own public key
     * ({@code --pinnedpubkey sha256//...}, which curl checks with or without {@code --insecure}). Empty without TLS.
     */
    public static String curlOptions(String serverCertificatePem) {
        if (serverCertificatePem == null) {
            return "";
        }
        try (InputStream in = new ByteArrayInputStream(serverCertificatePem.getBytes(StandardCharsets.US_ASCII))) {
            X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
            byte[] spki = MessageDigest.getInstance("SHA-256").digest(cert.getPublicKey().getEncoded());
            return "--insecure --pinnedpubkey sha256//" + Base64.getEncoder().encodeToString(spki);
        } catch (CertificateException | NoSuchAlgorithmException | IOException e) {
            throw new IllegalStateException("cannot read the server certificate to pin its key: " + e.getMessage(), e);
        }
    }

    private static String template() {
        try (InputStream in = InstallScript.class.getResourceAsStream("install.sh")) {
            if (in == null) {
                throw new IllegalStateException("install.sh is missing from the orchestrator's jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
