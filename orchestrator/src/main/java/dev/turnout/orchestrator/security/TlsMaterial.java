package dev.turnout.orchestrator.security;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.StringReader;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Date;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The orchestrator's TLS files: a CA (ECDSA P-256, 20 years) created on first start in
 * {@code DIR/ca.pem} + {@code DIR/ca.key}, and server certificates it signs (ECDSA P-256, 2 years,
 * names as subject alternative names). Private keys are PKCS#8 PEM files of mode 0600. Or the
 * certificate, key and CA an operator supplies.
 */
public final class TlsMaterial {

    /** CA certificate file name in the TLS directory: what devices and the CLI pin. */
    public static final String CA_FILE = "ca.pem";
    public static final String CA_KEY_FILE = "ca.key";
    public static final String SERVER_CERT_FILE = "server.pem";
    public static final String SERVER_KEY_FILE = "server.key";
    static final Duration CA_VALIDITY = Duration.ofDays(20 * 365);
    static final Duration SERVER_VALIDITY = Duration.ofDays(2 * 365);
    /** A server certificate with less than this left is renewed at start. */
    static final Duration RENEW_BEFORE = Duration.ofDays(30);
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
    private static final SecureRandom RANDOM = new SecureRandom();

    private final X509Certificate[] chain;
    private final PrivateKey key;
    private final X509Certificate ca;
    private final Path caFile;

    private TlsMaterial(X509Certificate[] chain, PrivateKey key, X509Certificate ca, Path caFile) {
        this.chain = chain;
        this.key = key;
        this.ca = ca;
        this.caFile = caFile;
    }

    /**
     * The generated material in {@code dir}: the CA (created if missing, else reused) and a server
     * certificate for {@code hosts}, reused when it is signed by that CA, names every host and has
     * more than 30 days left; reissued (the CA stays) otherwise.
     */
    public static TlsMaterial loadOrGenerate(Path dir, List<String> hosts, Clock clock) throws IOException {
        Authority authority = Authority.loadOrCreate(dir, clock);
        Path certFile = dir.resolve(SERVER_CERT_FILE);
        Path keyFile = dir.resolve(SERVER_KEY_FILE);
        if (Files.exists(certFile) && Files.exists(keyFile)) {
            X509Certificate existing = readCertificates(certFile).get(0);
            if (authority.signed(existing) && names(existing).containsAll(normalized(hosts))
                    && existing.getNotAfter().toInstant().isAfter(clock.instant().plus(RENEW_BEFORE))) {
                return new TlsMaterial(new X509Certificate[] {existing, authority.certificate()}, readKey(keyFile),
                        authority.certificate(), dir.resolve(CA_FILE));
            }
        }
        Issued issued = authority.issue(hosts, "Turnout orchestrator", SERVER_VALIDITY);
        issued.writeTo(certFile, keyFile);
        return new TlsMaterial(new X509Certificate[] {issued.certificate(), authority.certificate()}, issued.key(),
                authority.certificate(), dir.resolve(CA_FILE));
    }

    /**
     * Material an operator supplies: a certificate (chain) file, its key and, unless the certificate
     * is signed by a publicly trusted CA, the CA file devices pin (null: devices use their system
     * trust store).
     */
    public static TlsMaterial supplied(Path certFile, Path keyFile, Path caFile) throws IOException {
        List<X509Certificate> certs = readCertificates(certFile);
        PrivateKey key = readKey(keyFile);
        X509Certificate ca = caFile == null ? null : readCertificates(caFile).get(0);
        if (!matches(certs.get(0), key)) {
            throw new IOException("the key in " + keyFile + " does not belong to the certificate in " + certFile);
        }
        return new TlsMaterial(certs.toArray(new X509Certificate[0]), key, ca, caFile);
    }

    /** The server certificate followed by its chain. */
    public X509Certificate[] chain() {
        return chain.clone();
    }

    /** The server certificate and its chain as PEM. */
    public String certificatePem() {
        StringBuilder pem = new StringBuilder();
        for (X509Certificate c : chain) {
            pem.append(pem(c));
        }
        return pem.toString();
    }

    /** The server key as PKCS#8 PEM. */
    public String keyPem() {
        return pem("PRIVATE KEY", key.getEncoded());
    }

    /** The CA certificate file devices and the CLI pin; null for an operator certificate without a CA. */
    public Path caFile() {
        return caFile;
    }

    /** The CA certificate as PEM; null when there is none. */
    public String caPem() {
        return ca == null ? null : pem(ca);
    }

    /** True when the server certificate names {@code host} (DNS name or IP address). */
    public boolean names(String host) {
        return names(chain[0]).contains(normalize(host));
    }

    /**
     * Writes a PKCS#12 key store (mode 0600) holding the key and the chain under alias {@code turnout},
     * protected by {@code password}: what HiveMQ's TLS listener reads.
     */
    public void writeKeyStore(Path file, char[] password) throws IOException {
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            store.setKeyEntry("turnout", key, password, chain);
            Path tmp = privateTemp(file);
            try (OutputStream out = Files.newOutputStream(tmp)) {
                store.store(out, password);
            }
            moveInto(tmp, file);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot write the key store " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * The names a server certificate needs so that clients verify it: {@code advertiseHost}, this
     * machine's host name, {@code localhost}, {@code 127.0.0.1}, the bind address if specific, and
     * {@code extra}.
     */
    public static List<String> serverNames(String advertiseHost, String bindAddress, List<String> extra) {
        Set<String> names = new LinkedHashSet<>();
        if (advertiseHost != null) {
            names.add(advertiseHost);
        }
        try {
            String local = InetAddress.getLocalHost().getHostName();
            if (local != null && !local.isBlank()) {
                names.add(local);
            }
        } catch (IOException e) {
            // no resolvable host name: the other names still serve
        }
        names.add("localhost");
        names.add("127.0.0.1");
        if (bindAddress != null && !"0.0.0.0".equals(bindAddress) && !"::".equals(bindAddress)) {
            names.add(bindAddress);
        }
        if (extra != null) {
            names.addAll(extra);
        }
        return List.copyOf(names);
    }

    /** The CA of the TLS directory {@code dir}, created if missing. */
    public static Authority authority(Path dir, Clock clock) throws IOException {
        return Authority.loadOrCreate(dir, clock);
    }

    /** A CA: signs server certificates. */
    public static final class Authority {
        private final X509Certificate certificate;
        private final PrivateKey key;
        private final Clock clock;

        private Authority(X509Certificate certificate, PrivateKey key, Clock clock) {
            this.certificate = certificate;
            this.key = key;
            this.clock = clock;
        }

        static Authority loadOrCreate(Path dir, Clock clock) throws IOException {
            Files.createDirectories(dir);
            Path certFile = dir.resolve(CA_FILE);
            Path keyFile = dir.resolve(CA_KEY_FILE);
            boolean haveCert = Files.exists(certFile);
            boolean haveKey = Files.exists(keyFile);
            if (haveCert && haveKey) {
                X509Certificate cert = readCertificates(certFile).get(0);
                PrivateKey key = readKey(keyFile);
                if (!matches(cert, key)) {
                    throw new IOException("the CA key " + keyFile + " does not belong to " + certFile);
                }
                return new Authority(cert, key, clock);
            }
            if (haveCert || haveKey) {
                throw new IOException((haveCert ? certFile + " exists without " + keyFile : keyFile + " exists without " + certFile)
                        + ": restore the missing file, or remove both to create a new CA (every device then needs a new config)");
            }
            KeyPair pair = newKeyPair();
            Instant now = clock.instant();
            String id = HexFormat.of().formatHex(randomBytes(4));
            X500Name name = new X500Name("CN=Turnout CA " + id + ",O=Turnout");
            try {
                JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
                X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(name, serial(),
                        Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(CA_VALIDITY)), name, pair.getPublic())
                        .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
                        .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
                        .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(pair.getPublic()));
                X509Certificate cert = new JcaX509CertificateConverter().getCertificate(builder.build(signer(pair.getPrivate())));
                writeKey(keyFile, pair.getPrivate());
                writeText(certFile, pem(cert));
                return new Authority(cert, pair.getPrivate(), clock);
            } catch (GeneralSecurityException | OperatorCreationException e) {
                throw new IOException("cannot create the CA: " + e.getMessage(), e);
            }
        }

        public X509Certificate certificate() {
            return certificate;
        }

        boolean signed(X509Certificate cert) {
            try {
                cert.verify(certificate.getPublicKey());
                return cert.getIssuerX500Principal().equals(certificate.getSubjectX500Principal());
            } catch (GeneralSecurityException e) {
                return false;
            }
        }

        /** A new server certificate (and key) for {@code hosts}, signed by this CA. */
        public Issued issue(List<String> hosts, String commonName, Duration validity) throws IOException {
            if (hosts == null || hosts.isEmpty()) {
                throw new IllegalArgumentException("a server certificate needs at least one host name");
            }
            KeyPair pair = newKeyPair();
            Instant now = clock.instant();
            List<GeneralName> sans = new ArrayList<>();
            for (String host : new LinkedHashSet<>(normalized(hosts))) {
                sans.add(isIp(host) ? new GeneralName(GeneralName.iPAddress, host) : new GeneralName(GeneralName.dNSName, host));
            }
            try {
                JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
                X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(certificate, serial(),
                        Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(validity)),
                        new X500Name("CN=" + commonName.replace(",", " ") + ",O=Turnout"), pair.getPublic())
                        .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                        .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
                        .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth))
                        .addExtension(Extension.subjectAlternativeName, false, new GeneralNames(sans.toArray(new GeneralName[0])))
                        .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(pair.getPublic()))
                        .addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(certificate));
                X509Certificate cert = new JcaX509CertificateConverter().getCertificate(builder.build(signer(key)));
                return new Issued(cert, pair.getPrivate());
            } catch (GeneralSecurityException | OperatorCreationException e) {
                throw new IOException("cannot issue a certificate: " + e.getMessage(), e);
            }
        }
    }

    /** A certificate this CA issued, with its key. */
    public record Issued(X509Certificate certificate, PrivateKey key) {
        /** Writes the certificate (PEM) and the key (PKCS#8 PEM, mode 0600). */
        public void writeTo(Path certFile, Path keyFile) throws IOException {
            writeKey(keyFile, key);
            writeText(certFile, pem(certificate));
        }
    }

    /** The DNS names and IP addresses a certificate holds, lower case. */
    public static Set<String> names(X509Certificate cert) {
        Set<String> names = new LinkedHashSet<>();
        try {
            Collection<List<?>> sans = cert.getSubjectAlternativeNames();
            if (sans != null) {
                for (List<?> san : sans) {
                    names.add(normalize(String.valueOf(san.get(1))));
                }
            }
        } catch (CertificateException e) {
            // no readable names: none
        }
        return names;
    }

    /** The certificates in a PEM file; an error names the file. */
    public static List<X509Certificate> readCertificates(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IOException("certificate file " + file + " does not exist");
        }
        try {
            List<X509Certificate> certs = new ArrayList<>();
            for (java.security.cert.Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(bytes))) {
                certs.add((X509Certificate) c);
            }
            if (certs.isEmpty()) {
                throw new IOException(file + " holds no PEM certificate");
            }
            return certs;
        } catch (CertificateException e) {
            throw new IOException(file + " is not a PEM certificate: " + e.getMessage(), e);
        }
    }

    /** A PEM private key: PKCS#8, or the EC / RSA forms OpenSSL writes. */
    public static PrivateKey readKey(Path file) throws IOException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IOException("key file " + file + " does not exist");
        }
        try (PEMParser parser = new PEMParser(new StringReader(text))) {
            Object o = parser.readObject();
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            if (o instanceof PEMKeyPair pair) {
                return converter.getKeyPair(pair).getPrivate();
            }
            if (o instanceof PrivateKeyInfo info) {
                return converter.getPrivateKey(info);
            }
            throw new IOException(file + " holds no unencrypted PEM private key");
        }
    }

    private static boolean matches(X509Certificate cert, PrivateKey key) {
        try {
            String algorithm = "EC".equals(key.getAlgorithm()) ? "SHA256withECDSA"
                    : "RSA".equals(key.getAlgorithm()) ? "SHA256withRSA" : null;
            if (algorithm == null) {
                return true; // cannot check other key types here: the TLS handshake will
            }
            byte[] probe = randomBytes(32);
            java.security.Signature s = java.security.Signature.getInstance(algorithm);
            s.initSign(key);
            s.update(probe);
            byte[] signature = s.sign();
            java.security.Signature v = java.security.Signature.getInstance(algorithm);
            v.initVerify(cert.getPublicKey());
            v.update(probe);
            return v.verify(signature);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    private static KeyPair newKeyPair() throws IOException {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot generate an EC P-256 key: " + e.getMessage(), e);
        }
    }

    private static ContentSigner signer(PrivateKey key) throws OperatorCreationException {
        return new JcaContentSignerBuilder("SHA256withECDSA").build(key);
    }

    private static BigInteger serial() {
        return new BigInteger(1, randomBytes(16));
    }

    private static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        RANDOM.nextBytes(b);
        return b;
    }

    static boolean isIp(String host) {
        return IPV4.matcher(host).matches() || host.contains(":");
    }

    private static List<String> normalized(List<String> hosts) {
        List<String> out = new ArrayList<>();
        for (String h : hosts) {
            out.add(normalize(h));
        }
        return out;
    }

    private static String normalize(String host) {
        String h = host.trim().toLowerCase(Locale.ROOT);
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        }
        if (h.contains(":")) {
            try {
                h = InetAddress.getByName(h).getHostAddress(); // one spelling of an IPv6 address
            } catch (IOException e) {
                // keep as given
            }
        }
        return h;
    }

    /** PEM of a certificate. */
    public static String pem(X509Certificate cert) {
        try {
            return pem("CERTIFICATE", cert.getEncoded());
        } catch (java.security.cert.CertificateEncodingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    private static void writeKey(Path file, PrivateKey key) throws IOException {
        Path tmp = privateTemp(file);
        Files.writeString(tmp, pem("PRIVATE KEY", key.getEncoded()), StandardCharsets.US_ASCII);
        moveInto(tmp, file);
    }

    private static void writeText(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.writeString(tmp, text, StandardCharsets.US_ASCII);
        moveInto(tmp, file);
    }

    /** An empty file of mode 0600 next to {@code file}, created with that mode (never readable by others). */
    private static Path privateTemp(Path file) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        try {
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException e) {
            Files.createFile(tmp);
        }
        return tmp;
    }

    private static void moveInto(Path tmp, Path file) throws IOException {
        try {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
