package dev.turnout.orchestrator.app;

import dev.turnout.broker.BrokerStorage;
import dev.turnout.proto.Topics;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Objects;

/**
 * How to run a {@link TurnoutServer}.
 *
 * @param dataDir       where the store, the signing key, the artifacts and the embedded broker live
 * @param httpPort      HTTP API port; 0 picks a free one
 * @param mqttPort      port of the embedded broker (ignored with {@code brokerUrl}); 0 picks a free one
 * @param bindAddress   address the HTTP API and the embedded broker listen on
 * @param brokerUrl     an external broker ({@code tcp://host:1883}); null embeds one
 * @param advertiseHost host devices use to reach this orchestrator; null: first non-loopback IPv4, else 127.0.0.1
 * @param topicPrefix   MQTT topic prefix
 * @param brokerAuth    the orchestrator's broker identity and Mosquitto files; null: the generated identity
 * @param tls           HTTPS and MQTT over TLS; null: off
 * @param brokerStorage how the embedded broker keeps its messages and sessions; null: {@link BrokerStorage#DEFAULT}
 * @param edgePackage   the edge daemon's .deb handed to devices by one-line installs; null: none (installs are refused)
 * @param maxDownloads  artifact downloads served at once; one more is answered 503 with Retry-After (0: the default, 32)
 */
public record ServerOptions(Path dataDir, int httpPort, int mqttPort, String bindAddress, String brokerUrl,
                            String advertiseHost, String topicPrefix, BrokerAuth brokerAuth, TlsOptions tls,
                            BrokerStorage brokerStorage, Path edgePackage, int maxDownloads) {

    /** Default {@link #maxDownloads()}. */
    public static final int DEFAULT_MAX_DOWNLOADS = 32;

    /** With the default cap on downloads at once. */
    public ServerOptions(Path dataDir, int httpPort, int mqttPort, String bindAddress, String brokerUrl,
                         String advertiseHost, String topicPrefix, BrokerAuth brokerAuth, TlsOptions tls,
                         BrokerStorage brokerStorage, Path edgePackage) {
        this(dataDir, httpPort, mqttPort, bindAddress, brokerUrl, advertiseHost, topicPrefix, brokerAuth, tls, brokerStorage, edgePackage, 0);
    }

    /** These options with at most {@code max} artifact downloads served at once. */
    public ServerOptions withMaxDownloads(int max) {
        return new ServerOptions(dataDir, httpPort, mqttPort, bindAddress, brokerUrl, advertiseHost, topicPrefix, brokerAuth, tls,
                brokerStorage, edgePackage, max);
    }

    public static final int DEFAULT_HTTP_PORT = 8080;
    public static final int DEFAULT_MQTT_PORT = 1883;
    /** Default port of the embedded broker with TLS. */
    public static final int DEFAULT_MQTTS_PORT = 8883;
    public static final String DEFAULT_BIND_ADDRESS = "0.0.0.0";

    public ServerOptions {
        Objects.requireNonNull(dataDir, "dataDir");
        bindAddress = bindAddress == null || bindAddress.isBlank() ? DEFAULT_BIND_ADDRESS : bindAddress;
        brokerUrl = brokerUrl == null || brokerUrl.isBlank() ? null : brokerUrl;
        advertiseHost = advertiseHost == null || advertiseHost.isBlank() ? defaultAdvertiseHost() : advertiseHost;
        topicPrefix = topicPrefix == null || topicPrefix.isBlank() ? Topics.DEFAULT_PREFIX : topicPrefix;
        brokerAuth = brokerAuth == null ? BrokerAuth.generated() : brokerAuth;
        tls = tls == null ? TlsOptions.off() : tls;
        brokerStorage = brokerStorage == null ? BrokerStorage.DEFAULT : brokerStorage;
        if (maxDownloads < 0 || maxDownloads > 100_000) {
            throw new IllegalArgumentException("--max-downloads must be between 1 and 100000, not " + maxDownloads);
        }
        maxDownloads = maxDownloads == 0 ? DEFAULT_MAX_DOWNLOADS : maxDownloads;
        if (httpPort < 0 || httpPort > 65535 || mqttPort < 0 || mqttPort > 65535) {
            throw new IllegalArgumentException("ports must be between 0 and 65535");
        }
    }

    /** Without an edge package. */
    public ServerOptions(Path dataDir, int httpPort, int mqttPort, String bindAddress, String brokerUrl,
                         String advertiseHost, String topicPrefix, BrokerAuth brokerAuth, TlsOptions tls,
                         BrokerStorage brokerStorage) {
        this(dataDir, httpPort, mqttPort, bindAddress, brokerUrl, advertiseHost, topicPrefix, brokerAuth, tls, brokerStorage, null);
    }

    /** These options with {@code file} as the edge package one-line installs hand out. */
    public ServerOptions withEdgePackage(Path file) {
        return new ServerOptions(dataDir, httpPort, mqttPort, bindAddress, brokerUrl, advertiseHost, topicPrefix, brokerAuth, tls,
                brokerStorage, file, maxDownloads);
    }

    /** With the default broker storage. */
    public ServerOptions(Path dataDir, int httpPort, int mqttPort, String bindAddress, String brokerUrl,
                         String advertiseHost, String topicPrefix, BrokerAuth brokerAuth, TlsOptions tls) {
        this(dataDir, httpPort, mqttPort, bindAddress, brokerUrl, advertiseHost, topicPrefix, brokerAuth, tls, null);
    }

    /** Without TLS. */
    public ServerOptions(Path dataDir, int httpPort, int mqttPort, String bindAddress, String brokerUrl,
                         String advertiseHost, String topicPrefix, BrokerAuth brokerAuth) {
        this(dataDir, httpPort, mqttPort, bindAddress, brokerUrl, advertiseHost, topicPrefix, brokerAuth, null);
    }

    /** These options with {@code options} for TLS. */
    public ServerOptions withTls(TlsOptions options) {
        return new ServerOptions(dataDir, httpPort, mqttPort, bindAddress, brokerUrl, advertiseHost, topicPrefix, brokerAuth, options,
                brokerStorage, edgePackage, maxDownloads);
    }

    /** With the generated broker identity and no Mosquitto files. */
    public ServerOptions(Path dataDir, int httpPort, int mqttPort, String bindAddress, String brokerUrl,
                         String advertiseHost, String topicPrefix) {
        this(dataDir, httpPort, mqttPort, bindAddress, brokerUrl, advertiseHost, topicPrefix, null);
    }

    public ServerOptions withBrokerAuth(BrokerAuth auth) {
        return new ServerOptions(dataDir, httpPort, mqttPort, bindAddress, brokerUrl, advertiseHost, topicPrefix, auth, tls,
                brokerStorage, edgePackage, maxDownloads);
    }

    /** Defaults for everything but the data directory. */
    public static ServerOptions defaults(Path dataDir) {
        return new ServerOptions(dataDir, DEFAULT_HTTP_PORT, DEFAULT_MQTT_PORT, DEFAULT_BIND_ADDRESS, null, null,
                Topics.DEFAULT_PREFIX);
    }

    /** True when the server starts its own broker. */
    public boolean embedsBroker() {
        return brokerUrl == null;
    }

    /** The first non-loopback IPv4 address of this host, else 127.0.0.1. */
    public static String defaultAdvertiseHost() {
        try {
            for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                if (!nic.isUp() || nic.isLoopback()) {
                    continue;
                }
                for (InetAddress address : Collections.list(nic.getInetAddresses())) {
                    if (address instanceof Inet4Address && !address.isLoopbackAddress()) {
                        return address.getHostAddress();
                    }
                }
            }
        } catch (SocketException e) {
            // no interfaces to look at: fall back to loopback
        }
        return "127.0.0.1";
    }
}
