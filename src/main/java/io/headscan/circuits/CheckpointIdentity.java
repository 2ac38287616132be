package io.headscan.circuits;

import io.headscan.Progress;
import io.headscan.format.MappedCheckpoint;
import io.headscan.inspect.FileDigest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The identity of a checkpoint file: its SHA-256. A file inside a Hugging Face cache is a blob named
 * by that hash already; any other file is hashed once and the result remembered per file ({@link FileMemo}, under
 * {@code identity/}), so an edited or replaced file is hashed again.
 */
public final class CheckpointIdentity {

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final byte[] MAGIC = "HSSHA256".getBytes(StandardCharsets.US_ASCII);

    private CheckpointIdentity() {}

    /** The SHA-256 if it is known without reading the file (HF blob name, or remembered), else empty. */
    public static Optional<String> known(Path file, Path cacheRoot) {
        try {
            Path real = file.toRealPath();
            String name = real.getFileName().toString();
            if (real.getParent() != null && real.getParent().getFileName() != null
                    && real.getParent().getFileName().toString().equals("blobs") && SHA256.matcher(name).matches()) {
                return Optional.of(name);
            }
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
        return memo(file, cacheRoot).flatMap(m -> m.read(MAGIC)).map(p -> new String(p, StandardCharsets.US_ASCII))
                .filter(s -> SHA256.matcher(s).matches());
    }

    private static Optional<FileMemo> memo(Path file, Path cacheRoot) {
        return FileMemo.of(file, cacheRoot, "identity", ".sha256");
    }

    /**
     * The checkpoint's SHA-256: of its file, or, for shards, of the shards' SHA-256s in index order (each known or
     * remembered on its own, so a changed shard is hashed again).
     */
    public static String sha256(MappedCheckpoint file, Path cacheRoot, Progress progress) throws IOException {
        java.util.List<Path> files = file.files();
        if (files.size() == 1 && files.getFirst().equals(file.path())) return sha256(files.getFirst(), file.mappings().getFirst(), cacheRoot, progress);
        StringBuilder all = new StringBuilder("shards");
        for (int i = 0; i < files.size(); i++) all.append('\n').append(sha256(files.get(i), file.mappings().get(i), cacheRoot, progress));
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(all.toString().getBytes(StandardCharsets.US_ASCII)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String sha256(Path file, java.lang.foreign.MemorySegment bytes, Path cacheRoot, Progress progress) {
        var known = known(file, cacheRoot);
        if (known.isPresent()) return known.get();
        String sha = FileDigest.sha256(bytes, progress);
        memo(file, cacheRoot).ifPresent(m -> m.write(MAGIC, sha.getBytes(StandardCharsets.US_ASCII)));
        return sha;
    }
}
