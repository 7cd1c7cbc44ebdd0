package dev.turnout.edge.it;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The dependencies {@code mvn package} copies to {@code target/lib} for the device are slimmed (edge-daemon/pom.xml):
 * no signed jar, whose parsed manifest and signatures the JDK would keep in the heap for the daemon's life, and no
 * public suffix list for docker-java's HTTP client to parse. A new signed dependency fails here.
 */
class PackagedJarsIT {

    private static final Path LIB = Path.of("target/lib");

    @Test
    void noJarIsSignedNorCarriesPerEntryManifestSections() throws IOException {
        assertThat(LIB).as("run through `mvn verify`: package comes first").isDirectory();
        List<String> signed = new ArrayList<>();
        try (Stream<Path> jars = Files.list(LIB)) {
            for (Path jar : jars.filter(p -> p.toString().endsWith(".jar")).toList()) {
                try (JarFile file = new JarFile(jar.toFile(), false)) {
                    boolean signatures = file.stream().anyMatch(e -> e.getName().matches("META-INF/[^/]+\\.(SF|RSA|DSA|EC)"));
                    boolean entrySections = file.getManifest() != null && !file.getManifest().getEntries().isEmpty();
                    if (signatures || entrySections) {
                        signed.add(jar.getFileName() + (signatures ? " (signature files)" : " (per-entry manifest sections)"));
                    }
                }
            }
        }
        assertThat(signed).as("add them to the slim-device-jars step of edge-daemon/pom.xml").isEmpty();
    }

    @Test
    void bouncyCastleStaysMultiReleaseAndComplete() throws IOException {
        Path bcprov;
        try (Stream<Path> jars = Files.list(LIB)) {
            bcprov = jars.filter(p -> p.getFileName().toString().startsWith("bcprov-")).findFirst().orElseThrow();
        }
        try (JarFile file = new JarFile(bcprov.toFile())) {
            assertThat(file.isMultiRelease()).isTrue();
            assertThat(file.getEntry("org/bouncycastle/crypto/signers/Ed25519Signer.class")).isNotNull();
        }
    }

    @Test
    void httpClientHasNoPublicSuffixList() throws IOException {
        try (Stream<Path> jars = Files.list(LIB)) {
            Path httpclient = jars.filter(p -> p.getFileName().toString().startsWith("httpclient5-")).findFirst().orElseThrow();
            try (JarFile file = new JarFile(httpclient.toFile())) {
                assertThat(file.getEntry("org/publicsuffix/list/effective_tld_names.dat")).isNull();
                assertThat(file.getEntry("org/apache/hc/client5/http/psl/PublicSuffixMatcherLoader.class")).isNotNull();
            }
        }
    }
}
