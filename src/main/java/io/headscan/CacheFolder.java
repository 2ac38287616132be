package io.headscan;

import java.nio.file.Path;

/** headscan's per-user cache: {@code $HEADSCAN_CACHE}, else {@code $XDG_CACHE_HOME/headscan}, else {@code ~/.cache/headscan}. */
public final class CacheFolder {

    public static final String ENV = "HEADSCAN_CACHE";

    private CacheFolder() {}

    public static Path root() {
        String env = System.getenv(ENV);
        if (env != null && !env.isBlank()) return Path.of(env);
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("headscan");
    }
}
