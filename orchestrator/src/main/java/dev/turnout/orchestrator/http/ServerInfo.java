package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.security.Keyring;
import dev.turnout.proto.crypto.PublicKey;

import java.util.List;
import java.util.function.Supplier;

/**
 * What the API tells about this orchestrator and writes into device configs.
 *
 * @param keys  the signing keys devices trust, read at each use (a key rotation changes them): the active
 *              one signs, an announced next one and previous ones are trusted too
 * @param caPem the CA certificate(s), PEM, that devices pin for the broker and the orchestrator; null without TLS
 */
public record ServerInfo(Supplier<List<Keyring.Entry>> keys, String deviceBrokerUrl, String orchestratorUrl,
                         String topicPrefix, String version, String caPem) {

    /** One signing key, without TLS. */
    public ServerInfo(String keyId, String publicKeyBase64, String deviceBrokerUrl, String orchestratorUrl,
                      String topicPrefix, String version) {
        this(only(keyId, publicKeyBase64), deviceBrokerUrl, orchestratorUrl, topicPrefix, version, null);
    }

    private static Supplier<List<Keyring.Entry>> only(String keyId, String publicKeyBase64) {
        PublicKey key = PublicKey.fromBase64(publicKeyBase64);
        if (!key.keyId().equals(keyId)) {
            throw new IllegalArgumentException("key id " + keyId + " is not the id of that public key (" + key.keyId() + ")");
        }
        List<Keyring.Entry> one = List.of(new Keyring.Entry(key, Keyring.Role.ACTIVE));
        return () -> one;
    }

    /** The id of the key that signs now. */
    public String keyId() {
        return active().keyId();
    }

    /** The public key that signs now, Base64. */
    public String publicKeyBase64() {
        return active().toBase64();
    }

    /** Every key devices trust now: the active one first, then an announced next one, then previous ones. */
    public List<PublicKey> trustedKeys() {
        List<Keyring.Entry> all = keys.get();
        java.util.ArrayList<PublicKey> ordered = new java.util.ArrayList<>();
        all.stream().filter(e -> e.role() == Keyring.Role.ACTIVE).forEach(e -> ordered.add(e.key()));
        all.stream().filter(e -> e.role() != Keyring.Role.ACTIVE).forEach(e -> ordered.add(e.key()));
        return ordered;
    }

    private PublicKey active() {
        return keys.get().stream().filter(e -> e.role() == Keyring.Role.ACTIVE).findFirst()
                .orElseThrow(() -> new IllegalStateException("no active signing key")).key();
    }
}
