package dev.turnout.edge.domain;

import dev.turnout.proto.compose.ComposeFile;

import java.util.List;
import java.util.Map;

/**
 * One Compose service's container as the device creates it: the service as the file describes it (variables filled in)
 * with the names the engine knows its app's resources by.
 *
 * @param name        the container's name
 * @param image       the engine's id of the service's image
 * @param service     the service, read from the release's Compose file
 * @param networkMode {@code host}, {@code none}, {@code bridge}, {@code container:ID}, or the first of {@code networks}
 * @param networks    engine network name to the aliases the service answers to there (empty with a network mode)
 * @param volumes     the file's volume name to the engine's volume name
 * @param extraBinds  host mounts the device adds ({@code SOURCE:TARGET}), e.g. the app's update lock directory
 * @param labels      every label: the file's, Compose's and Turnout's
 */
public record ServiceContainer(String name, String image, ComposeFile.Service service, String networkMode,
                               Map<String, List<String>> networks, Map<String, String> volumes, List<String> extraBinds,
                               Map<String, String> labels) {
}
