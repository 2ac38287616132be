package io.headscan;

import java.nio.file.Path;
import java.util.Map;

/**
 * headscan's per-user cache: {@code $HEADSCAN_CACHE}, else {@code $XDG_CACHE_HOME/headscan}, else {@code $HOME/.cache/headscan}.
 * The home folder is {@code $HOME} as huggingface_hub and every shell tool read it (Java's {@code user.home} comes from
 * the password database and ignores {@code HOME}); {@code user.home} only when {@code HOME} is unset.
 */
public final class CacheFolder {

    public static final String ENV = "HEADSCAN_CACHE";

    private CacheFolder() {}

    /** The cache folder; the system property {@code headscan.cache} (for embedding applications and tests) wins. */
    public static Path root() {
        String prop = System.getProperty("headscan.cache");
        if (prop != null && !prop.isBlank()) return Path.of(prop);
        return root(System.getenv());
    }

    /** The cache folder for an explicit environment (tests pass their own). */
    public static Path root(Map<String, String> env) {
        String own = env.get(ENV);
        if (own != null && !own.isBlank()) return Path.of(own);
        String xdg = env.get("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : home(env).resolve(".cache");
        return base.resolve("headscan");
    }

    /** {@code $HOME}, else Java's {@code user.home}. */
    public static Path home(Map<String, String> env) {
        String home = env.get("HOME");
        return home != null && !home.isBlank() ? Path.of(home) : Path.of(System.getProperty("user.home"));
    }
}
