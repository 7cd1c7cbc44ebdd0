package dev.turnout.orchestrator.cli;

import dev.turnout.proto.compose.ComposeFile;
import dev.turnout.proto.compose.ComposeReader;
import dev.turnout.proto.compose.InvalidComposeException;
import dev.turnout.proto.image.ArchiveEntries;
import dev.turnout.proto.image.ImageArchive;
import dev.turnout.proto.image.InvalidImageArchiveException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A Compose file on the operator's machine, with the env files it names, checked with the rules the server and the
 * device apply (docs/compose.md), and the archives of a release checked against it before anything is uploaded.
 */
record LocalCompose(Path file, String content, Map<String, String> envFiles, Map<String, String> variables, ComposeFile app) {

    /** The {@code .env} beside a Compose file: the release's variables, as Compose reads it for interpolation. */
    static final String DOT_ENV = ".env";

    /**
     * Reads {@code file}, the env files it names and the {@code .env} beside it; {@code options} ({@code --env
     * NAME=VALUE}) override {@code .env}.
     */
    static LocalCompose read(Path file, Map<String, String> options) {
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new CliException("compose file " + file + " is not a readable file");
        }
        String name = file.getFileName().toString();
        try {
            String content = Files.readString(file, StandardCharsets.UTF_8);
            Map<String, String> envFiles = new LinkedHashMap<>();
            Path dir = file.toAbsolutePath().getParent();
            for (String envFile : ComposeReader.envFileNames(name, content)) {
                Path path = dir.resolve(envFile);
                if (Files.isRegularFile(path)) {
                    envFiles.put(envFile, Files.readString(path, StandardCharsets.UTF_8));
                }
            }
            Map<String, String> variables = new TreeMap<>();
            Path dotEnv = dir.resolve(DOT_ENV);
            if (Files.isRegularFile(dotEnv)) {
                variables.putAll(ComposeReader.envFile(DOT_ENV, Files.readString(dotEnv, StandardCharsets.UTF_8)));
            }
            variables.putAll(options);
            return new LocalCompose(file, content, envFiles, variables, ComposeReader.check(name, content, variables, envFiles));
        } catch (InvalidComposeException e) {
            throw new CliException(e.getMessage());
        } catch (IOException e) {
            throw new CliException("cannot read compose file " + file + ": " + e.getMessage());
        }
    }

    /**
     * Reads each archive's images (only the platforms asked of it, when some are) and checks that every platform
     * gets exactly one image for each image the services name, and nothing else.
     */
    void checkArchives(Map<Path, List<String>> wanted) {
        Map<String, String> serviceByImage = new LinkedHashMap<>();
        app.services().values().forEach(s -> serviceByImage.putIfAbsent(ImageArchive.normalizedName(s.image()), s.name()));
        Map<String, Map<String, Path>> byPlatform = new TreeMap<>(); // platform -> normalized image -> archive
        for (Map.Entry<Path, List<String>> entry : wanted.entrySet()) {
            Path archive = entry.getKey();
            List<ImageArchive.Image> images;
            try {
                images = ImageArchive.images(ArchiveEntries.read(archive));
            } catch (InvalidImageArchiveException e) {
                throw new CliException(archive + " is not an image archive (docker save, OCI layout): " + e.getMessage());
            } catch (IOException e) {
                throw new CliException("cannot read " + archive + ": " + e.getMessage());
            }
            for (String platform : entry.getValue()) {
                if (images.stream().noneMatch(i -> i.platform().equals(platform))) {
                    throw new CliException(archive + " holds no image for " + platform + "; it holds "
                            + String.join(", ", images.stream().map(ImageArchive.Image::platform).toList()));
                }
            }
            for (ImageArchive.Image image : images) {
                if (!entry.getValue().isEmpty() && !entry.getValue().contains(image.platform())) {
                    continue;
                }
                if (image.ref() == null) {
                    throw new CliException(archive + " holds an image without a name; save it by the name its service gives"
                            + " (docker save trains/web:2.0.1 -o web.tar)");
                }
                String name = ImageArchive.normalizedName(image.ref());
                if (!serviceByImage.containsKey(name)) {
                    throw new CliException(archive + " holds " + image.ref() + ", which no service of " + file.getFileName()
                            + " names; the services name " + String.join(", ", app.images()));
                }
                Path before = byPlatform.computeIfAbsent(image.platform(), p -> new LinkedHashMap<>()).putIfAbsent(name, archive);
                if (before != null) {
                    throw new CliException("two archives hold " + image.ref() + " for " + image.platform() + ": " + before + " and " + archive);
                }
            }
        }
        for (Map.Entry<String, Map<String, Path>> platform : byPlatform.entrySet()) {
            for (Map.Entry<String, String> image : serviceByImage.entrySet()) {
                if (!platform.getValue().containsKey(image.getKey())) {
                    throw new CliException("no archive holds " + app.services().get(image.getValue()).image() + " (service "
                            + image.getValue() + ") for " + platform.getKey() + ": every platform of the release needs every"
                            + " service's image; add its archive with --image");
                }
            }
        }
    }

    /** The {@code compose} part of {@code POST /api/v1/releases}. */
    Map<String, Object> body() {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("file", file.getFileName().toString());
        body.put("content", content);
        body.put("envFiles", envFiles);
        body.put("variables", variables);
        return body;
    }
}
