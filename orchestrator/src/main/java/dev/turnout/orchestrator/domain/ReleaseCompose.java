package dev.turnout.orchestrator.domain;

import java.util.Map;
import java.util.TreeMap;

/**
 * The Compose file of a multi-container release (docs/compose.md) and the env files it names, as written.
 *
 * @param file     the file's name, for messages
 * @param content  the YAML
 * @param envFiles  the contents of the files {@code env_file} entries name, by the name the file gives
 * @param variables the release's values for {@code ${VAR}}; a device's own values win
 */
public record ReleaseCompose(String file, String content, Map<String, String> envFiles, Map<String, String> variables) {

    public ReleaseCompose {
        envFiles = envFiles == null ? Map.of() : java.util.Collections.unmodifiableMap(new TreeMap<>(envFiles));
        variables = variables == null ? Map.of() : java.util.Collections.unmodifiableMap(new TreeMap<>(variables));
    }
}
