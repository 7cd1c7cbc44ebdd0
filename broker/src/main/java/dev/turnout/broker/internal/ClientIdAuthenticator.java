package dev.turnout.broker.internal;

import com.hivemq.extension.sdk.api.auth.SimpleAuthenticator;
import com.hivemq.extension.sdk.api.auth.parameter.SimpleAuthInput;
import com.hivemq.extension.sdk.api.auth.parameter.SimpleAuthOutput;
import com.hivemq.extension.sdk.api.packets.connect.ConnackReasonCode;
import dev.turnout.proto.Topics;

/**
 * Refuses client ids that cannot be a topic level ({@code + # /}, whitespace, NUL, over 64
 * characters), so a client id can never widen a per-device topic pattern. Per-device credentials
 * and topic ACLs come on top of this.
 */
public final class ClientIdAuthenticator implements SimpleAuthenticator {

    @Override
    public void onConnect(SimpleAuthInput input, SimpleAuthOutput output) {
        String clientId = input.getClientInformation().getClientId();
        if (!Topics.isValidId(clientId)) {
            output.failAuthentication(ConnackReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
                    "client id must be 1-64 printable characters without whitespace, '+', '#' or '/'");
            return;
        }
        output.authenticateSuccessfully();
    }
}
