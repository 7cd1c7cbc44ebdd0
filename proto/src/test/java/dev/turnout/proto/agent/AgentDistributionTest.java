package dev.turnout.proto.agent;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.zip.GZIPOutputStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What an edge daemon distribution must be: turnout-edge.jar (runnable) at the top of a tar.gz, nothing that escapes. */
class AgentDistributionTest {

    @TempDir
    Path dir;

    private static byte[] jar(String mainClass) throws IOException {
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        if (mainClass != null) {
            manifest.getMainAttributes().put(Attributes.Name.MAIN_CLASS, mainClass);
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        new JarOutputStream(bytes, manifest).close();
        return bytes.toByteArray();
    }

    private Path tarGz(Map<String, byte[]> files) throws IOException {
        Path file = Files.createTempFile(dir, "edge", ".tar.gz");
        try (OutputStream out = Files.newOutputStream(file);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(new GZIPOutputStream(out))) {
            for (Map.Entry<String, byte[]> e : files.entrySet()) {
                TarArchiveEntry entry = new TarArchiveEntry(e.getKey(), true); // names as written, "/etc/passwd" too
                entry.setSize(e.getValue().length);
                tar.putArchiveEntry(entry);
                tar.write(e.getValue());
                tar.closeArchiveEntry();
            }
        }
        return file;
    }

    private static Map<String, byte[]> files(Object... nameThenContent) {
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (int i = 0; i < nameThenContent.length; i += 2) {
            Object content = nameThenContent[i + 1];
            files.put((String) nameThenContent[i], content instanceof byte[] b ? b : ((String) content).getBytes(StandardCharsets.UTF_8));
        }
        return files;
    }

    @Test
    void theDaemonsJarAndOptionsAtTheTopAreADistributionAndUnpackAsTheyAre() throws Exception {
        byte[] daemonJar = jar("dev.turnout.edge.app.EdgeMain"); // once: a jar made in another second has other bytes
        Path file = tarGz(files("./turnout-edge.jar", daemonJar, "./jvm.options", "-Xmx96m\n",
                "./NOTICE", "hello"));
        AgentDistribution.Contents contents = AgentDistribution.check(file);
        assertThat(contents.files()).containsExactly("turnout-edge.jar", "jvm.options", "NOTICE");
        assertThat(contents.mainClass()).isEqualTo("dev.turnout.edge.app.EdgeMain");
        assertThat(contents.hasOptions()).isTrue();

        Path into = dir.resolve("0.2.0");
        AgentDistribution.unpack(file, into);
        assertThat(into.resolve("jvm.options")).hasContent("-Xmx96m");
        assertThat(into.resolve("turnout-edge.jar")).hasBinaryContent(daemonJar);
        assertThat(into.resolve("NOTICE")).hasContent("hello");
    }

    @Test
    void whatIsNotADistributionIsRefusedWithWordsForItsMaker() throws Exception {
        assertThatThrownBy(() -> AgentDistribution.check(tarGz(files("lib/turnout-edge.jar", jar("Main")))))
                .isInstanceOf(InvalidAgentDistributionException.class).hasMessageContaining("no turnout-edge.jar at its top level");
        assertThatThrownBy(() -> AgentDistribution.check(tarGz(files("turnout-edge.jar", jar(null)))))
                .hasMessageContaining("has no Main-Class");
        assertThatThrownBy(() -> AgentDistribution.check(tarGz(files("turnout-edge.jar", jar("Main"), "../evil", "x"))))
                .hasMessageContaining("'..' segment");
        assertThatThrownBy(() -> AgentDistribution.check(tarGz(files("turnout-edge.jar", jar("Main"), "/etc/passwd", "x"))))
                .hasMessageContaining("absolute");
        Path plainTar = Files.writeString(dir.resolve("plain.tar"), "not gzip at all");
        assertThatThrownBy(() -> AgentDistribution.check(plainTar)).hasMessageContaining("not gzip-compressed");
    }

    @Test
    void linksAreRefused() throws Exception {
        Path file = dir.resolve("link.tar.gz");
        try (OutputStream out = Files.newOutputStream(file);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(new GZIPOutputStream(out))) {
            TarArchiveEntry link = new TarArchiveEntry("turnout-edge.jar", TarArchiveEntry.LF_SYMLINK);
            link.setLinkName("/usr/share/turnout-edge/turnout-edge.jar");
            tar.putArchiveEntry(link);
            tar.closeArchiveEntry();
        }
        assertThatThrownBy(() -> AgentDistribution.check(file)).hasMessageContaining("is a link or a special file");
    }
}
