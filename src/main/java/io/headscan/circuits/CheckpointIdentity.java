package io.headscan.circuits;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.Progress;
import io.headscan.format.SafetensorsFile;
import io.headscan.inspect.FileDigest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * The identity of a checkpoint file: its SHA-256. A file inside a Hugging Face cache is a blob named
 * by that hash already; any other file is hashed once and the result remembered in the cache, keyed by
 * real path, size and modification time (so an edited file is hashed again).
 */
public final class CheckpointIdentity {

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");

    private CheckpointIdentity() {}

    /** The SHA-256 if it is known without reading the file (HF blob name, or remembered), else empty. */
    public static java.util.Optional<String> known(Path file, Path cacheRoot) {
        try {
            Path real = file.toRealPath();
            String name = real.getFileName().toString();
            if (real.getParent() != null && real.getParent().getFileName() != null
                    && real.getParent().getFileName().toString().equals("blobs") && SHA256.matcher(name).matches()) {
                return java.util.Optional.of(name);
            }
            long size = Files.size(real);
            long mtime = Files.getLastModifiedTime(real).toMillis();
            Path memo = memo(cacheRoot, real);
            if (Files.isRegularFile(memo)) {
                var n = io.headscan.Json.MAPPER.readTree(Files.readString(memo));
                if (n.path("size").asLong() == size && n.path("mtime_ms").asLong() == mtime && SHA256.matcher(n.path("sha256").asText()).matches()) {
                    return java.util.Optional.of(n.get("sha256").asText());
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // unknown: the caller hashes the file or goes without
        }
        return java.util.Optional.empty();
    }

    private static Path memo(Path cacheRoot, Path real) {
        return cacheRoot.resolve("identity").resolve(hex(real.toString()) + ".json");
    }

    public static String sha256(SafetensorsFile file, Path cacheRoot, Progress progress) throws IOException {
        var known = known(file.path(), cacheRoot);
        if (known.isPresent()) return known.get();
        Path real = file.path().toRealPath();
        long size = Files.size(real);
        long mtime = Files.getLastModifiedTime(real).toMillis();
        Path memo = memo(cacheRoot, real);
        ObjectMapper om = io.headscan.Json.MAPPER;
        String sha = FileDigest.sha256(file, progress);
        try {
            Files.createDirectories(memo.getParent());
            ObjectNode n = om.createObjectNode().put("path", real.toString()).put("size", size).put("mtime_ms", mtime).put("sha256", sha);
            io.headscan.AtomicFiles.writeString(memo, n.toString());
        } catch (IOException ignored) {
            // a read-only cache only costs a re-hash next time
        }
        return sha;
    }

    private static String hex(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8))).substring(0, 32);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
