package io.headscan.hub;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The Hugging Face settings, read from the environment exactly as huggingface_hub reads them
 * (docs/formats.md §4–§5): cache root, endpoint, token, offline mode.
 */
public record HubEnvironment(Path cacheRoot, URI endpoint, Optional<String> token, boolean offline, long minFreeBytes) {

    public HubEnvironment(Path cacheRoot, URI endpoint, Optional<String> token, boolean offline) {
        this(cacheRoot, endpoint, token, offline, 0);
    }

    public static HubEnvironment fromEnvironment() {
        return of(System.getenv());
    }

    /** From an explicit environment map (tests pass their own). */
    public static HubEnvironment of(Map<String, String> env) {
        String home = io.headscan.CacheFolder.home(env).toString();
        Path hfHome = nonBlank(env.get("HF_HOME")).map(Path::of)
                .orElseGet(() -> nonBlank(env.get("XDG_CACHE_HOME")).map(x -> Path.of(x, "huggingface")).orElse(Path.of(home, ".cache", "huggingface")));
        Path cache = nonBlank(env.get("HF_HUB_CACHE")).map(Path::of)
                .or(() -> nonBlank(env.get("HUGGINGFACE_HUB_CACHE")).map(Path::of))
                .or(() -> nonBlank(env.get("HF_HOME")).map(h -> Path.of(h, "hub")))
                .or(() -> nonBlank(env.get("XDG_CACHE_HOME")).map(x -> Path.of(x, "huggingface", "hub")))
                .orElse(Path.of(home, ".cache", "huggingface", "hub"));
        String ep = nonBlank(env.get("HF_ENDPOINT")).orElse("https://huggingface.co");
        while (ep.endsWith("/")) ep = ep.substring(0, ep.length() - 1);
        Optional<String> token = nonBlank(env.get("HF_TOKEN")).or(() -> readToken(hfHome.resolve("token")));
        boolean offline = truthy(env.get("HF_HUB_OFFLINE")) || truthy(env.get("TRANSFORMERS_OFFLINE"));
        long minFree = 0;
        String keep = env.get("HEADSCAN_MIN_FREE_DISK");   // bytes every download must leave free (default 0)
        if (keep != null && !keep.isBlank()) {
            try {
                minFree = Math.max(0, Long.parseLong(keep.strip()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("HEADSCAN_MIN_FREE_DISK=" + keep + ": expected a number of bytes");
            }
        }
        return new HubEnvironment(cache, URI.create(ep), token, offline, minFree);
    }

    private static Optional<String> readToken(Path p) {
        try {
            return Files.isRegularFile(p) ? nonBlank(Files.readString(p).strip()) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    static boolean truthy(String v) {
        if (v == null) return false;
        return switch (v.strip().toUpperCase(Locale.ROOT)) {
            case "1", "ON", "YES", "TRUE" -> true;
            default -> false;
        };
    }

    private static Optional<String> nonBlank(String s) {
        return s == null || s.isBlank() ? Optional.empty() : Optional.of(s);
    }
}
