package dev.turnout.e2e;

import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

/**
 * The whole loop, with the embedded broker, once on every Docker engine {@code TURNOUT_TEST_ENGINES}
 * names besides this machine's own (which the other end-to-end tests cover): bin/test starts Debian
 * 13's and sid's docker.io with the containerd image store. The devices' {@code dockerHost} points at
 * that engine and the release archives are its own {@code docker save} output.
 */
@ParameterizedClass(name = "{0}", allowZeroInvocations = true)
@MethodSource("otherEngines")
class OtherEnginesEndToEndIT extends EmbeddedHiveMqEndToEndIT {

    @Parameter
    TestEngines.Engine engine;

    static List<TestEngines.Engine> otherEngines() {
        List<TestEngines.Engine> others = TestEngines.all().stream()
                .filter(e -> !e.dockerHost().equals(TestEngines.DEFAULT.dockerHost()))
                .toList();
        if (others.isEmpty() && Requirements.inCi()) {
            // no invocation would run to fail: fail here
            Requirements.require(false, "the Docker engines besides this machine's own named in TURNOUT_TEST_ENGINES"
                    + " (bin/test starts them and names them; by hand: export TURNOUT_TEST_ENGINES=\"$(sudo bin/test-engines start)\")");
        }
        return others;
    }

    @Override
    protected TestEngines.Engine engine() {
        return engine;
    }

    /**
     * Not run again per engine: a forged desired state is refused before any engine is asked, and
     * the default engine's run covers it (an override without {@code @Test} is no test).
     */
    @Override
    void aDesiredStateForgedWithTheOrchestratorsOwnBrokerCredentialsIsRefusedByARealDevice() {
    }
}
