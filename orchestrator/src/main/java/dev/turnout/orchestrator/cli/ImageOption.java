package dev.turnout.orchestrator.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** {@code --image [PLATFORM=]ARCHIVE} of {@code release create}: which platforms to take from which archive. */
final class ImageOption {

    private static final Pattern WITH_PLATFORM = Pattern.compile("([a-z0-9]+/[a-z0-9_]+(?:/v[0-9]+)?)=(.+)");

    private ImageOption() {
    }

    /**
     * Each archive with the platforms asked of it, in the order given; an empty list means every platform it holds.
     * An archive named once with and once without a platform is taken whole.
     */
    static Map<Path, List<String>> parse(List<String> values) {
        Map<Path, List<String>> wanted = new LinkedHashMap<>();
        List<Path> whole = new ArrayList<>();
        for (String value : values) {
            Matcher m = WITH_PLATFORM.matcher(value);
            if (m.matches()) {
                Path archive = Path.of(m.group(2));
                List<String> platforms = wanted.computeIfAbsent(archive, a -> new ArrayList<>());
                if (!platforms.contains(m.group(1))) {
                    platforms.add(m.group(1));
                }
            } else if (value.isBlank()) {
                throw new CliException("--image needs an archive: --image web.tar or --image linux/arm64=web.tar");
            } else {
                wanted.computeIfAbsent(Path.of(value), a -> new ArrayList<>());
                whole.add(Path.of(value));
            }
        }
        whole.forEach(archive -> wanted.get(archive).clear());
        return wanted;
    }
}
