package io.headscan.inspect;

import io.headscan.Progress;
import io.headscan.format.MappedCheckpoint;
import java.lang.foreign.MemorySegment;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** SHA-256 of a mapped checkpoint's bytes (its files in order), fed from the mappings in large slices (no heap copy). */
public final class FileDigest {

    private static final long SLICE = 8L << 20;

    private FileDigest() {}

    /** SHA-256 of one mapped file's bytes. */
    public static String sha256(MemorySegment bytes, Progress progress) {
        return digest(java.util.List.of(bytes), progress);
    }

    public static String sha256(MappedCheckpoint file, Progress progress) {
        return digest(file.mappings(), progress);
    }

    private static String digest(java.util.List<MemorySegment> all, Progress progress) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        progress.start("sha256", all.stream().mapToLong(MemorySegment::byteSize).sum(), "B");
        for (MemorySegment m : all) {
            long size = m.byteSize();
            for (long off = 0; off < size; off += SLICE) {
                long n = Math.min(SLICE, size - off);
                md.update(m.asSlice(off, n).asByteBuffer());
                progress.advance(n);
            }
        }
        progress.done();
        return HexFormat.of().formatHex(md.digest());
    }
}
