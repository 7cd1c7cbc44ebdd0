package dev.turnout.orchestrator.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

/** A container's log printed to the operator's terminal: no control character of the app's reaches it. */
class LogTextTest {

    @Test
    void controlCharactersAreShownNotObeyed() {
        assertThat(LogText.line("\u001b[31mred\u001b[0m\tand \u00e9 \uD83D\uDE82")).isEqualTo("^[[31mred^[[0m\tand \u00e9 \uD83D\uDE82");
        assertThat(LogText.line("bell\u0007 back\b del\u007f csi\u009b2J cr\r")).isEqualTo("bell^G back^H del^? csi?2J cr^M");
    }

    @Test
    void eachLineIsPrintedAfterThePrefix() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        LogText.print(new PrintStream(bytes, true, StandardCharsets.UTF_8), "  | ", "first\n\nthird");
        assertThat(bytes.toString(StandardCharsets.UTF_8)).isEqualTo("  | first\n  |\n  | third\n");
    }
}
