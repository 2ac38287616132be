package io.headscan.sweep;

import io.headscan.circuits.CheckpointIdentity;
import io.headscan.model.Model;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What a local checkpoint's bytes are, cheaply: its SHA-256 where that is known without reading the file (a Hugging
 * Face blob is named by it; a file hashed before is remembered), else a fingerprint of every weights file's size,
 * modification time (ns), inode, its first and last 64 KiB and 64 blocks of 4 KiB spread over it; {@code config.json}
 * (which sets the head count) is hashed whole in both cases. A file rewritten in place, replaced, or with another config
 * gets another identity, while a file renamed or reached through another path or link keeps its own (the path is not
 * part of it); the cost is about 0.4 MB of reads per checkpoint.
 */
final class ContentIdentity {

    private static final int EDGE = 64 << 10, BLOCK = 4 << 10, SAMPLES = 64;

    private ContentIdentity() {}

    static String of(Model m, Path cacheRoot) throws IOException {
        MessageDigest md = sha256();
        List<Path> files = m.file().files();
        String known = files.size() == 1 ? CheckpointIdentity.known(files.getFirst(), cacheRoot).orElse(null) : null;
        StringBuilder id = new StringBuilder();
        if (known != null) {
            id.append("sha256:").append(known);
        } else {
            List<MemorySegment> maps = m.file().mappings();
            for (int i = 0; i < files.size(); i++) fingerprint(md, files.get(i), maps.get(i));
            id.append("fp:").append(HexFormat.of().formatHex(md.digest()), 0, 32);
        }
        Path config = m.path().resolveSibling("config.json");
        if (Files.isRegularFile(config)) {
            id.append(";config:").append(HexFormat.of().formatHex(sha256().digest(Files.readAllBytes(config))), 0, 16);
        }
        return id.toString();
    }

    private static void fingerprint(MessageDigest md, Path file, MemorySegment bytes) throws IOException {
        Path real = file.toRealPath();
        long size = bytes.byteSize();
        Object inode;
        try {
            inode = Files.getAttribute(real, "unix:ino");
        } catch (UnsupportedOperationException | IllegalArgumentException e) {
            inode = "";
        }
        md.update((size + "\n" + Files.getLastModifiedTime(real).to(TimeUnit.NANOSECONDS) + "\n" + inode + "\n")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        List<long[]> ranges = new ArrayList<>();
        ranges.add(new long[] {0, Math.min(EDGE, size)});
        for (int i = 1; i <= SAMPLES; i++) {
            long at = size * i / (SAMPLES + 1);
            ranges.add(new long[] {at, Math.min(BLOCK, size - at)});
        }
        ranges.add(new long[] {Math.max(0, size - EDGE), Math.min(EDGE, size)});
        for (long[] r : ranges) if (r[1] > 0) md.update(bytes.asSlice(r[0], r[1]).asByteBuffer());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
