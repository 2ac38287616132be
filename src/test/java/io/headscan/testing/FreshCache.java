package io.headscan.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Every test run gets a headscan cache of its own (system property {@code headscan.cache}, inherited by {@link ChildJvm}s),
 * removed at the end: nothing a run computes (W_EE tables, vocabulary means, hashes) is found by the next one, so each
 * run exercises the computations, not last run's results.
 */
public final class FreshCache implements LauncherSessionListener {

    private Path dir;

    @Override
    public void launcherSessionOpened(LauncherSession session) {
        try {
            String base = System.getenv("HEADSCAN_CACHE");
            Path parent = base == null || base.isBlank() ? Path.of(System.getProperty("java.io.tmpdir")) : Path.of(base);
            Files.createDirectories(parent);
            dir = Files.createTempDirectory(parent, "run-");
            System.setProperty("headscan.cache", dir.toString());
        } catch (IOException e) {
            throw new IllegalStateException("cannot create the test cache", e);
        }
    }

    @Override
    public void launcherSessionClosed(LauncherSession session) {
        if (dir == null) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            // target/ is cleaned by the next mvn clean
        }
    }
}
