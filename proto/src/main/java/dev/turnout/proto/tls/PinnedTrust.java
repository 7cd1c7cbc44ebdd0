package dev.turnout.proto.tls;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.TrustManagerFactorySpi;
import javax.net.ssl.ManagerFactoryParameters;
import javax.net.ssl.X509ExtendedTrustManager;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.Provider;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.List;
import java.util.Objects;

/**
 * Trust in exactly the given CA certificates, not the system trust store: what a device (and the
 * CLI, and the orchestrator) uses to talk TLS to the broker and the orchestrator. Host names are
 * verified. A certificate the peer presents that does not chain to these CAs, is expired or does
 * not name the host fails the handshake with a message that says which of these it was, in plain
 * words ({@link #explain(Throwable)}).
 */
public final class PinnedTrust {

    private final List<X509Certificate> anchors;
    private final String source;
    private final X509ExtendedTrustManager delegate;

    private PinnedTrust(List<X509Certificate> anchors, String source, X509ExtendedTrustManager delegate) {
        this.anchors = List.copyOf(anchors);
        this.source = source;
        this.delegate = delegate;
    }

    private PinnedTrust(List<X509Certificate> anchors, String source) {
        this.anchors = List.copyOf(anchors);
        this.source = source;
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            for (int i = 0; i < anchors.size(); i++) {
                store.setCertificateEntry("ca-" + i, anchors.get(i));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
            tmf.init(store);
            this.delegate = x509(tmf.getTrustManagers());
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot build a trust store from " + source + ": " + e.getMessage(), e);
        }
    }

    /**
     * The CA certificates in {@code pem} (one or more {@code BEGIN CERTIFICATE} blocks).
     *
     * @param source where they come from, for messages, e.g. "the CA in your config (ca)"
     * @throws IllegalArgumentException when {@code pem} holds no certificate
     */
    public static PinnedTrust fromPem(String pem, String source) {
        Objects.requireNonNull(source, "source");
        if (pem == null || !pem.contains("-----BEGIN CERTIFICATE-----")) {
            throw new IllegalArgumentException(source + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }
        try {
            Collection<? extends java.security.cert.Certificate> parsed = CertificateFactory.getInstance("X.509")
                    .generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
            List<X509Certificate> certs = new ArrayList<>();
            for (java.security.cert.Certificate c : parsed) {
                certs.add((X509Certificate) c);
            }
            if (certs.isEmpty()) {
                throw new IllegalArgumentException(source + " holds no PEM certificate");
            }
            return new PinnedTrust(certs, source);
        } catch (CertificateException e) {
            throw new IllegalArgumentException(source + " is not a valid PEM certificate: " + e.getMessage(), e);
        }
    }

    /**
     * The system trust store, not pinned: for a server with a publicly trusted certificate. Failures
     * are explained the same way ("... is not signed by a CA this machine trusts").
     */
    public static PinnedTrust system() {
        try {
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init((KeyStore) null);
            X509ExtendedTrustManager manager = x509(tmf.getTrustManagers());
            return new PinnedTrust(List.of(manager.getAcceptedIssuers()), "a CA this machine trusts (system trust store)", manager);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot read the system trust store: " + e.getMessage(), e);
        }
    }

    /** The CA certificates in a PEM file; a missing or unreadable file is an {@link IOException} naming it. */
    public static PinnedTrust fromFile(Path file) throws IOException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (NoSuchFileException e) {
            throw new IOException("CA file " + file + " does not exist");
        } catch (IOException e) {
            throw new IOException("cannot read CA file " + file + ": " + e.getMessage(), e);
        }
        try {
            return fromPem(text, "CA file " + file);
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** The pinned CA certificates. */
    public List<X509Certificate> certificates() {
        return anchors;
    }

    /** Where the CA certificates come from, as used in messages. */
    public String source() {
        return source;
    }

    /** A TLS context that trusts exactly these CAs; host names are verified by whoever sets endpoint identification. */
    public SSLContext sslContext(String peer) {
        try {
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, new TrustManager[] {trustManager(peer)}, null);
            return context;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot create a TLS context: " + e.getMessage(), e);
        }
    }

    /**
     * Sockets that trust exactly these CAs and verify the host name they connect to (endpoint
     * identification HTTPS, RFC 2818 rules, which is also what MQTT clients apply).
     *
     * @param peer what the other end is, for messages: "broker", "orchestrator"
     * @param verifyHost false only for a connection to this host's own loopback listener
     */
    public SSLSocketFactory socketFactory(String peer, boolean verifyHost) {
        return new HostCheckingSocketFactory(sslContext(peer).getSocketFactory(), verifyHost);
    }

    /** A trust manager factory handing out {@link #trustManager(String)} (for clients that take a factory). */
    public TrustManagerFactory trustManagerFactory(String peer) {
        TrustManager manager = trustManager(peer);
        return new TrustManagerFactory(new TrustManagerFactorySpi() {
            @Override
            protected void engineInit(KeyStore ks) {
            }

            @Override
            protected void engineInit(ManagerFactoryParameters spec) {
            }

            @Override
            protected TrustManager[] engineGetTrustManagers() {
                return new TrustManager[] {manager};
            }
        }, new Provider("TurnoutPinnedTrust", "1", "trust in the pinned CA only") {
            private static final long serialVersionUID = 1L;
        }, "PKIX") {
        };
    }

    /** The trust manager: the pinned CAs, with failures in words ("... is not signed by the CA in ..."). */
    public X509ExtendedTrustManager trustManager(String peer) {
        return new Explaining(peer);
    }

    /**
     * The TLS reason a connection failed, in words, when {@code failure} (or one of its causes) is
     * a handshake or certificate failure; null otherwise.
     */
    public static String explain(Throwable failure) {
        // the outermost certificate failure is the explained one (it wraps the JDK's)
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof CertificateException && t.getMessage() != null) {
                return t.getMessage();
            }
        }
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String m = t.getMessage();
            if (t instanceof SSLHandshakeException) {
                return m != null && m.contains("certificate") ? m : "TLS handshake failed" + (m == null ? "" : ": " + m);
            }
            if (t instanceof javax.net.ssl.SSLException) {
                if (m != null && (m.contains("plaintext connection") || m.contains("Unsupported or unrecognized SSL message"))) {
                    return "the server does not talk TLS on this port (is the URL ssl:// or https:// where the server is plain?)";
                }
                return "TLS failed: " + m;
            }
        }
        return null;
    }

    private static X509ExtendedTrustManager x509(TrustManager[] managers) {
        for (TrustManager m : managers) {
            if (m instanceof X509ExtendedTrustManager x) {
                return x;
            }
        }
        throw new IllegalStateException("no X.509 trust manager");
    }

    private final class Explaining extends X509ExtendedTrustManager {
        private final String peer;

        Explaining(String peer) {
            this.peer = peer;
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            String host = socket instanceof SSLSocket s && s.getHandshakeSession() != null ? s.getHandshakeSession().getPeerHost() : null;
            try {
                delegate.checkServerTrusted(chain, authType, socket);
            } catch (CertificateException e) {
                throw explained(chain, host, e);
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            String host = engine == null ? null : engine.getPeerHost();
            try {
                delegate.checkServerTrusted(chain, authType, engine);
            } catch (CertificateException e) {
                throw explained(chain, host, e);
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            try {
                delegate.checkServerTrusted(chain, authType);
            } catch (CertificateException e) {
                throw explained(chain, null, e);
            }
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            throw new CertificateException("client certificates are not accepted here");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            throw new CertificateException("client certificates are not accepted here");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("client certificates are not accepted here");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return anchors.toArray(new X509Certificate[0]);
        }

        private CertificateException explained(X509Certificate[] chain, String host, CertificateException e) {
            X509Certificate leaf = chain == null || chain.length == 0 ? null : chain[0];
            String subject = leaf == null ? "" : " (" + leaf.getSubjectX500Principal().getName() + ")";
            String m = String.valueOf(e.getMessage());
            String why;
            if (m.contains("subject alternative") || m.contains("No name matching") || m.contains("No subject")) {
                why = "the " + peer + " certificate" + subject + " does not name " + (host == null ? "the host connected to" : host)
                        + " (it names " + names(leaf) + "); connect with a name it holds, or reissue it with that name";
            } else if (leaf != null && new Date().after(leaf.getNotAfter())) {
                why = "the " + peer + " certificate" + subject + " expired on " + leaf.getNotAfter().toInstant();
            } else if (leaf != null && new Date().before(leaf.getNotBefore())) {
                why = "the " + peer + " certificate" + subject + " is not valid before " + leaf.getNotBefore().toInstant()
                        + " (is this device's clock right?)";
            } else {
                why = "the " + peer + " certificate" + subject + " is not signed by " + source;
            }
            return new CertificateException(why, e);
        }
    }

    private static String names(X509Certificate cert) {
        if (cert == null) {
            return "nothing";
        }
        try {
            Collection<List<?>> sans = cert.getSubjectAlternativeNames();
            if (sans == null || sans.isEmpty()) {
                return "no subject alternative names";
            }
            List<String> names = new ArrayList<>();
            for (List<?> san : sans) {
                names.add(String.valueOf(san.get(1)));
            }
            return String.join(", ", names);
        } catch (CertificateException e) {
            return "unreadable names";
        }
    }

    /** Sets endpoint identification on every socket it makes, so that the host name is verified in the handshake. */
    private static final class HostCheckingSocketFactory extends SSLSocketFactory {
        private final SSLSocketFactory inner;
        private final boolean verifyHost;

        HostCheckingSocketFactory(SSLSocketFactory inner, boolean verifyHost) {
            this.inner = inner;
            this.verifyHost = verifyHost;
        }

        private Socket configure(Socket socket) {
            if (socket instanceof SSLSocket ssl) {
                SSLParameters params = ssl.getSSLParameters();
                params.setEndpointIdentificationAlgorithm(verifyHost ? "HTTPS" : null);
                ssl.setSSLParameters(params);
            }
            return socket;
        }

        @Override
        public String[] getDefaultCipherSuites() {
            return inner.getDefaultCipherSuites();
        }

        @Override
        public String[] getSupportedCipherSuites() {
            return inner.getSupportedCipherSuites();
        }

        @Override
        public Socket createSocket() throws IOException {
            return configure(inner.createSocket());
        }

        @Override
        public Socket createSocket(Socket s, String host, int port, boolean autoClose) throws IOException {
            return configure(inner.createSocket(s, host, port, autoClose));
        }

        @Override
        public Socket createSocket(String host, int port) throws IOException {
            return configure(inner.createSocket(host, port));
        }

        @Override
        public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
            return configure(inner.createSocket(host, port, localHost, localPort));
        }

        @Override
        public Socket createSocket(InetAddress host, int port) throws IOException {
            return configure(inner.createSocket(host, port));
        }

        @Override
        public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort) throws IOException {
            return configure(inner.createSocket(address, port, localAddress, localPort));
        }
    }
}
