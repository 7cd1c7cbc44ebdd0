package dev.turnout.edge.it;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code target/turnout-edge-device.jar}, what {@code bin/turnout-edge} runs, is one slimmed jar (edge-daemon/pom.xml):
 * nothing signed (the JDK would keep the parsed manifest and signatures of a signed jar in the heap for the daemon's
 * life), no class path to other jars, no public suffix list for docker-java's HTTP client to parse, and the service
 * files the daemon needs merged.
 */
class DeviceJarIT {

    private static final Path JAR = Path.of("target/turnout-edge-device.jar");

    @BeforeEach
    void packaged() {
        assertThat(JAR).as("run through `mvn verify`: package comes first").isRegularFile();
    }

    @Test
    void nothingSignedAndNoPerEntryManifestSections() throws IOException {
        try (JarFile jar = new JarFile(JAR.toFile(), false)) {
            assertThat(jar.stream().map(e -> e.getName()).filter(n -> n.matches("META-INF/[^/]+\\.(SF|RSA|DSA|EC)"))).isEmpty();
            Manifest manifest = jar.getManifest();
            assertThat(manifest.getEntries()).isEmpty();
            Attributes main = manifest.getMainAttributes();
            assertThat(main.getValue("Main-Class")).isEqualTo("dev.turnout.edge.app.EdgeMain");
            assertThat(main.getValue("Class-Path")).as("everything is inside").isNull();
            assertThat(main.getValue("Multi-Release")).as("as every dependency that has versioned classes").isEqualTo("true");
        }
    }

    @Test
    void noPublicSuffixListAndNoSecurityProviderRegistration() throws IOException {
        try (JarFile jar = new JarFile(JAR.toFile())) {
            assertThat(jar.getEntry("org/publicsuffix/list/effective_tld_names.dat")).isNull();
            assertThat(jar.getEntry("org/apache/hc/client5/http/psl/PublicSuffixMatcherLoader.class")).isNotNull();
            assertThat(jar.getEntry("META-INF/services/java.security.Provider")).isNull();
            assertThat(jar.getEntry("org/bouncycastle/crypto/signers/Ed25519Signer.class")).isNotNull();
        }
    }

    @Test
    void zstdForBinaryDeltasCarriesTheNativeLibraryOfEveryPiAndNoOtherSystems() throws IOException {
        try (JarFile jar = new JarFile(JAR.toFile())) {
            java.util.List<String> natives = jar.stream().map(e -> e.getName()).filter(n -> n.contains("libzstd-jni")).toList();
            assertThat(natives).anyMatch(n -> n.startsWith("linux/aarch64/libzstd-jni")).anyMatch(n -> n.startsWith("linux/arm/libzstd-jni"))
                    .anyMatch(n -> n.startsWith("linux/amd64/libzstd-jni")).allMatch(n -> n.startsWith("linux/"))
                    .noneMatch(n -> n.startsWith("linux/s390x/"));
        }
    }

    @Test
    void theServicesTheDaemonLooksUpAreThere() throws IOException {
        try (JarFile jar = new JarFile(JAR.toFile())) {
            assertThat(service(jar, "org.eclipse.paho.mqttv5.client.spi.NetworkModuleFactory"))
                    .contains("TCPNetworkModuleFactory").contains("SSLNetworkModuleFactory");
            assertThat(service(jar, "org.slf4j.spi.SLF4JServiceProvider")).contains("SimpleServiceProvider");
        }
    }

    private static String service(JarFile jar, String name) throws IOException {
        try (InputStream in = jar.getInputStream(jar.getEntry("META-INF/services/" + name))) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
