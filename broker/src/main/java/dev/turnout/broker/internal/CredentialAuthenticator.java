package dev.turnout.broker.internal;

import com.hivemq.extension.sdk.api.auth.SimpleAuthenticator;
import com.hivemq.extension.sdk.api.auth.parameter.SimpleAuthInput;
import com.hivemq.extension.sdk.api.auth.parameter.SimpleAuthOutput;
import com.hivemq.extension.sdk.api.packets.auth.DefaultAuthorizationBehaviour;
import com.hivemq.extension.sdk.api.packets.connect.ConnackReasonCode;
import com.hivemq.extension.sdk.api.packets.connect.ConnectPacket;
import com.hivemq.extension.sdk.api.services.builder.TopicPermissionBuilder;
import dev.turnout.broker.BrokerIdentities;
import dev.turnout.broker.Role;
import dev.turnout.broker.TopicPolicy;
import dev.turnout.proto.Topics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Deny by default: a client connects only with a user name and secret that {@link BrokerIdentities}
 * accepts and a client id equal to that user name, except that an orchestrator, which may run as
 * several instances, connects as {@code <user name>.<instance>}. Ids that cannot be a topic level ({@code + # /},
 * NUL, whitespace, non-printables, over 64 characters) are refused before anything else. A client that gets in
 * gets its role's {@link TopicPolicy#grants} as HiveMQ default permissions (deny by default), which HiveMQ checks
 * itself for every PUBLISH, will and SUBSCRIBE; its user name is kept in the connection's attributes for
 * {@link RevocationRecheck}. Until {@code othersAdmitted} says yes,
 * only the orchestrator connects: everyone else is told the server is unavailable and retries (a broker that
 * keeps nothing on disk lets devices in once the orchestrator subscribed to their reports).
 */
public final class CredentialAuthenticator implements SimpleAuthenticator {

    static final String USER_ATTRIBUTE = "turnout.user";
    static final String ROLE_ATTRIBUTE = "turnout.role";
    /** Between the user name and the instance in the client id of one of several orchestrator instances. */
    public static final String INSTANCE_SEPARATOR = ".";
    private static final Logger LOG = LoggerFactory.getLogger(CredentialAuthenticator.class);

    private final BrokerIdentities identities;
    private final TopicPolicy policy;
    private final DefaultTopicPermissions permissions;
    private final BooleanSupplier othersAdmitted;

    /**
     * @param policy          the topic rules each role gets at connect
     * @param permissions     a fresh HiveMQ topic permission builder each time ({@code Builders::topicPermission})
     * @param othersAdmitted  whether clients other than the orchestrator may connect now
     */
    public CredentialAuthenticator(BrokerIdentities identities, TopicPolicy policy,
                                   Supplier<TopicPermissionBuilder> permissions,
                                   BooleanSupplier othersAdmitted) {
        this.identities = identities;
        this.policy = policy;
        this.permissions = new DefaultTopicPermissions(permissions);
        this.othersAdmitted = othersAdmitted;
    }

    @Override
    public void onConnect(SimpleAuthInput input, SimpleAuthOutput output) {
        output.getDefaultPermissions().setDefaultBehaviour(DefaultAuthorizationBehaviour.DENY);
        ConnectPacket connect = input.getConnectPacket();
        String clientId = input.getClientInformation().getClientId();
        if (!Topics.isValidId(clientId)) {
            LOG.info("refused a client: invalid client id");
            output.failAuthentication(ConnackReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
                    "client id must be 1-64 printable characters without whitespace, '+', '#' or '/'");
            return;
        }
        Optional<String> username = connect.getUserName();
        Optional<ByteBuffer> password = connect.getPassword();
        if (username.isEmpty() || password.isEmpty()) {
            LOG.info("refused client {}: no credentials", clientId);
            output.failAuthentication(ConnackReasonCode.BAD_USER_NAME_OR_PASSWORD, "user name and password required");
            return;
        }
        boolean sameId = username.get().equals(clientId);
        if (!sameId && !clientId.startsWith(username.get() + INSTANCE_SEPARATOR)) {
            LOG.info("refused client {}: client id differs from its user name", clientId);
            output.failAuthentication(ConnackReasonCode.CLIENT_IDENTIFIER_NOT_VALID, "client id must equal the user name");
            return;
        }
        ByteBuffer buffer = password.get().asReadOnlyBuffer();
        byte[] secret = new byte[buffer.remaining()];
        buffer.get(secret);
        Optional<Role> role;
        try {
            role = identities.authenticate(username.get(), secret);
        } catch (RuntimeException e) {
            LOG.warn("refused client {}: credential check failed: {}", clientId, e.toString());
            role = Optional.empty();
        } finally {
            Arrays.fill(secret, (byte) 0);
        }
        if (role.isEmpty()) {
            LOG.info("refused client {}: unknown user, wrong secret or revoked", clientId);
            output.failAuthentication(ConnackReasonCode.BAD_USER_NAME_OR_PASSWORD, "bad user name or password");
            return;
        }
        if (!sameId && role.get() != Role.ORCHESTRATOR) {
            LOG.info("refused client {}: client id differs from its user name", clientId);
            output.failAuthentication(ConnackReasonCode.CLIENT_IDENTIFIER_NOT_VALID, "client id must equal the user name");
            return;
        }
        if (role.get() != Role.ORCHESTRATOR && !othersAdmitted.getAsBoolean()) {
            LOG.debug("refused client {} for now: the orchestrator is starting", clientId);
            output.failAuthentication(ConnackReasonCode.SERVER_UNAVAILABLE, "the orchestrator is starting: try again in a moment");
            return;
        }
        permissions.apply(policy.grants(role.get(), username.get()), output.getDefaultPermissions());
        input.getConnectionInformation().getConnectionAttributeStore()
                .put(USER_ATTRIBUTE, ByteBuffer.wrap(username.get().getBytes(StandardCharsets.UTF_8)));
        input.getConnectionInformation().getConnectionAttributeStore()
                .put(ROLE_ATTRIBUTE, ByteBuffer.wrap(role.get().name().getBytes(StandardCharsets.UTF_8)));
        output.authenticateSuccessfully();
    }

    /** The authenticated user's role. */
    static Optional<Role> roleOf(com.hivemq.extension.sdk.api.client.parameter.ConnectionAttributeStore store) {
        return attribute(store, ROLE_ATTRIBUTE).map(Role::valueOf);
    }

    /** The authenticated user name (the client id but for orchestrator instances). */
    static Optional<String> userOf(com.hivemq.extension.sdk.api.client.parameter.ConnectionAttributeStore store) {
        return attribute(store, USER_ATTRIBUTE);
    }

    private static Optional<String> attribute(com.hivemq.extension.sdk.api.client.parameter.ConnectionAttributeStore store, String name) {
        return store.get(name).map(b -> {
            ByteBuffer copy = b.asReadOnlyBuffer();
            byte[] bytes = new byte[copy.remaining()];
            copy.get(bytes);
            return new String(bytes, StandardCharsets.UTF_8);
        });
    }
}
