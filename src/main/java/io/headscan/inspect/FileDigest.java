package io.headscan.inspect;

import io.headscan.Progress;
import io.headscan.format.SafetensorsFile;
import java.lang.foreign.MemorySegment;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** SHA-256 of a mapped file, fed from the mapping in large slices (no heap copy of the file). */
public final class FileDigest {

    private static final long SLICE = 8L << 20;

    private FileDigest() {}

    public static String sha256(SafetensorsFile file, Progress progress) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        MemorySegment all = file.mapping();
        long size = all.byteSize();
        progress.start("sha256", size, "B");
        for (long off = 0; off < size; off += SLICE) {
            long n = Math.min(SLICE, size - off);
            md.update(all.asSlice(off, n).asByteBuffer());
            progress.advance(n);
        }
        progress.done();
        return HexFormat.of().formatHex(md.digest());
    }
}
