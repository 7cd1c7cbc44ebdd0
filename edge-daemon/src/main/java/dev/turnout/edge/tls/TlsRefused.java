package dev.turnout.edge.tls;

import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLContextSpi;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocketFactory;
import javax.net.ssl.SSLSessionContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;
import java.net.http.HttpClient;
import java.security.SecureRandom;

/**
 * An {@link SSLContext} for clients that only ever talk plain HTTP: the Docker engine's Unix socket, an
 * {@code http://} orchestrator, an {@code http://} health probe. HTTP clients want a context when they are
 * built; the JDK's default one parses the system trust store (149 certificates) and even an empty JDK context
 * loads the JSSE and JCE providers: about 400 classes and 1 MiB that a device would keep for nothing. This one
 * loads nothing and refuses to be used.
 */
public final class TlsRefused {

    private TlsRefused() {
    }

    /** A context whose every use throws {@link IllegalStateException}. */
    public static SSLContext context(String why) {
        return new SSLContext(new Refusing(why), null, "none") {
        };
    }

    /** Whether {@code failure} (or one of its causes) is such a context refusing to work: a plain client met TLS. */
    public static boolean isRefusal(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof Refusal) {
                return true;
            }
        }
        return false;
    }

    /**
     * {@code builder} set up for plain {@code http://} only: a refusing context, and parameters of its own so that the
     * client does not ask the context for its defaults when it is built.
     */
    public static HttpClient.Builder plainHttp(HttpClient.Builder builder, String why) {
        return builder.sslContext(context(why)).sslParameters(new SSLParameters());
    }

    private static final class Refusal extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        Refusal(String message) {
            super(message);
        }
    }

    private static final class Refusing extends SSLContextSpi {
        private final String why;

        Refusing(String why) {
            this.why = why;
        }

        private IllegalStateException refused() {
            return new Refusal("no TLS here: " + why);
        }

        @Override
        protected void engineInit(KeyManager[] km, TrustManager[] tm, SecureRandom sr) {
            throw refused();
        }

        @Override
        protected SSLSocketFactory engineGetSocketFactory() {
            throw refused();
        }

        @Override
        protected SSLServerSocketFactory engineGetServerSocketFactory() {
            throw refused();
        }

        @Override
        protected SSLEngine engineCreateSSLEngine() {
            throw refused();
        }

        @Override
        protected SSLEngine engineCreateSSLEngine(String host, int port) {
            throw refused();
        }

        @Override
        protected SSLSessionContext engineGetServerSessionContext() {
            throw refused();
        }

        @Override
        protected SSLSessionContext engineGetClientSessionContext() {
            throw refused();
        }
    }
}
