package io.headscan.circuits;

import io.headscan.AtomicFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * A fact about a checkpoint file remembered in headscan's cache (its SHA-256, its vocabulary mean, its non-finite
 * counts), so that a pass over hundreds of megabytes is paid once per file, not once per run. One rule for all of them:
 * the record lives at {@code <cache>/<kind>/<hash of the key><suffix>} and holds, with a CRC32C, the whole key: the
 * file's real path, size, modification time (ns) and inode. A rewritten, replaced or touched file does not match and
 * is read again; a damaged record is ignored.
 *
 * <p>Record layout (little-endian): magic (8 bytes), key length, key (UTF-8), payload length, payload, CRC32C of all before it.
 */
record FileMemo(Path path, byte[] key) {

    /** The memo of {@code kind} for this checkpoint file, or empty when the file cannot be identified. */
    static Optional<FileMemo> of(Path file, Path cacheRoot, String kind, String suffix) {
        return of(java.util.List.of(file), cacheRoot, kind, suffix);
    }

    /** The memo of {@code kind} for a checkpoint made of these files (all of them in the key: shards and their index). */
    static Optional<FileMemo> of(java.util.List<Path> files, Path cacheRoot, String kind, String suffix) {
        try {
            StringBuilder key = new StringBuilder();
            for (Path file : files) {
                Path real = file.toRealPath();
                Object inode = Files.getAttribute(real, "unix:ino");
                if (!key.isEmpty()) key.append("\n");
                key.append(real).append("\n").append(Files.size(real)).append("\n").append(Files.getLastModifiedTime(real).to(TimeUnit.NANOSECONDS))
                        .append("\n").append(inode);
            }
            byte[] k = key.toString().getBytes(StandardCharsets.UTF_8);
            long h = 0xcbf29ce484222325L;   // FNV-1a: names the record; the full key inside it decides
            for (byte b : k) h = (h ^ (b & 0xff)) * 0x100000001b3L;
            return Optional.of(new FileMemo(cacheRoot.resolve(kind).resolve(HexFormat.of().toHexDigits(h) + suffix), k));
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** The payload stored with this magic and key, or empty when missing, damaged or for another file. */
    Optional<byte[]> read(byte[] magic) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (IOException e) {
            return Optional.empty();
        }
        if (bytes.length < magic.length + 12 + key.length) return Optional.empty();
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        if ((int) crc.getValue() != b.getInt(bytes.length - 4)) return Optional.empty();
        byte[] m = new byte[magic.length];
        b.get(m);
        if (!Arrays.equals(m, magic) || b.getInt() != key.length) return Optional.empty();
        byte[] stored = new byte[key.length];
        b.get(stored);
        if (!Arrays.equals(stored, key)) return Optional.empty();
        int n = b.getInt();
        if (n < 0 || n != b.remaining() - 4) return Optional.empty();
        byte[] payload = new byte[n];
        b.get(payload);
        return Optional.of(payload);
    }

    /** Stores the payload (atomically); a cache that cannot be written only costs the pass next time. */
    void write(byte[] magic, byte[] payload) {
        try {
            AtomicFiles.write(path, encode(magic, payload));
        } catch (IOException ignored) {
            // read-only or full cache: nothing remembered
        }
    }

    byte[] encode(byte[] magic, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(magic.length + 4 + key.length + 4 + payload.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.put(magic).putInt(key.length).put(key).putInt(payload.length).put(payload);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }
}
