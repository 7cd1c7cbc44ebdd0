package dev.turnout.testsupport;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Real parts a test needs (Mosquitto, a Docker engine, busybox, PostgreSQL, Chromium). A missing part
 * skips the test on a developer machine but fails it when {@code CI=true}, so CI can never go green by skipping.
 */
public final class Requirements {

    private Requirements() {
    }

    /** Skips (or, in CI, fails) the calling test unless {@code present}; {@code what} says what is missing and how to get it. */
    public static void require(boolean present, String what) {
        if (present) {
            return;
        }
        if (inCi()) {
            Assertions.fail("CI=true and this test needs " + what);
        }
        Assumptions.abort("needs " + what);
    }

    public static boolean inCi() {
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }

    /** The Mosquitto broker ({@link Mosquitto} checks this itself). */
    public static void mosquitto() {
        require(Files.isExecutable(Mosquitto.EXECUTABLE), "mosquitto (" + Mosquitto.EXECUTABLE + "; apt-get install mosquitto)");
    }

    /**
     * libfaketime's preload library, which moves a process's wall clock while it runs (Debian's {@code faketime}): the
     * variant for multi-threaded programs, which a JVM is (the plain one started the daemon's JVM three times slower).
     */
    public static final Path LIBFAKETIME = Path.of("/usr/lib/" + (System.getProperty("os.arch").equals("aarch64") ? "aarch64" : "x86_64")
            + "-linux-gnu/faketime/libfaketimeMT.so.1");

    /** libfaketime, to move a real daemon's wall clock ({@link #LIBFAKETIME}). */
    public static void libfaketime() {
        require(Files.isReadable(LIBFAKETIME), "libfaketime (" + LIBFAKETIME + "; apt-get install faketime)");
    }

    /** A static busybox, the only file of the tests' tiny images. */
    public static void busybox() {
        require(Files.isExecutable(Path.of("/bin/busybox")), "busybox-static (/bin/busybox; apt-get install busybox-static)");
    }

    /** This machine's default Docker engine. */
    public static void dockerEngine() {
        dockerEngine(TestEngines.DEFAULT);
    }

    /** One of the Docker engines under test ({@link TestEngines}). */
    public static void dockerEngine(TestEngines.Engine engine) {
        if (engine.dockerHost().equals(TestEngines.DEFAULT.dockerHost())) {
            require(DockerCli.answers(engine), "a running Docker engine (`docker info` failed; run bin/test, which installs and starts one)");
        } else {
            require(DockerCli.answers(engine), "the Docker engine " + engine + " on " + engine.dockerHost()
                    + " (`docker -H " + engine.dockerHost() + " info` failed; sudo bin/test-engines start starts it)");
        }
    }
}
