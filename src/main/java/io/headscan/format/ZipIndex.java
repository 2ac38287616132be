package io.headscan.format;

import static io.headscan.format.PyTorchException.Kind.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The entries of a ZIP archive that stores its members uncompressed, read from the mapped file by our own code
 * (docs/formats.md, "PyTorch checkpoints"). Only what a stored archive needs is read: the end-of-central-directory
 * record (and its ZIP64 locator and record), the central directory with ZIP64 extra fields, and each entry's local
 * header, because PyTorch aligns data with padding in the local extra field only. Sizes come from the central
 * directory, so data descriptors need no reading.
 *
 * <p>It fails closed, naming the entry: a compressed or encrypted member, a member whose header or data runs past the
 * end of the file or into another member or the central directory, a count or length that the file cannot hold, two
 * members of one name, a local header that names another member than its central-directory entry. Every offset, size
 * and count read from the file is bounded in subtraction form (a sum of two values near 2^63 would wrap negative and
 * pass a check), and nothing is allocated before its length has been checked against the file.
 */
final class ZipIndex {

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final int EOCD = 0x06054b50, ZIP64_EOCD = 0x06064b50, ZIP64_LOCATOR = 0x07064b50;
    private static final int CENTRAL = 0x02014b50, LOCAL = 0x04034b50;
    private static final long U32_MAX = 0xffffffffL;
    private static final int CENTRAL_HEADER = 46, LOCAL_HEADER = 30;
    /** Far above a checkpoint's needs (about 100 bytes per tensor); copied onto the heap, so bounded well below it. */
    static final long MAX_CENTRAL_DIRECTORY = 8L << 20;

    /** A member: its name, where its bytes are, and where its local header starts. */
    record Entry(String name, long headerOffset, long dataOffset, long size, boolean dataDescriptor) {
        long end() {
            return dataOffset + size;
        }
    }

    private final Map<String, Entry> byName;
    private final List<Entry> inOrder;

    private ZipIndex(List<Entry> entries) {
        this.inOrder = List.copyOf(entries);
        Map<String, Entry> m = new LinkedHashMap<>();
        for (Entry e : entries) m.put(e.name(), e);
        this.byName = Collections.unmodifiableMap(m);
    }

    /** Entries in central-directory order. */
    List<Entry> entries() {
        return inOrder;
    }

    Entry get(String name) {
        return byName.get(name);
    }

    static ZipIndex read(MemorySegment f, Path path) {
        long size = f.byteSize();
        long eocd = findEocd(f, size, path);
        long entries = u16(f, eocd + 10);
        long cdSize = u32(f, eocd + 12);
        long cdOffset = u32(f, eocd + 16);
        long cdLimit = eocd;   // the central directory ends before the end record (or before the ZIP64 one)
        if (eocd >= 20 && u32(f, eocd - 20) == ZIP64_LOCATOR) {
            long locator = eocd - 20;
            long rec = u64(f, locator + 8, path, "ZIP64 locator's record offset");
            // every bound below in subtraction form: values read from the file are non-negative but may be near 2^63,
            // where a sum would wrap negative and pass
            if (rec > locator - 56) throw new PyTorchException(INVALID_ZIP, path, "ZIP64 end record at " + rec + " does not fit before its locator at " + locator);
            if (u32(f, rec) != ZIP64_EOCD) throw new PyTorchException(INVALID_ZIP, path, "no ZIP64 end record at " + rec);
            entries = u64(f, rec + 32, path, "ZIP64 entry count");
            cdSize = u64(f, rec + 40, path, "ZIP64 central directory size");
            cdOffset = u64(f, rec + 48, path, "ZIP64 central directory offset");
            cdLimit = rec;
        }
        if (cdOffset > cdLimit || cdSize > cdLimit - cdOffset) {
            throw new PyTorchException(INVALID_ZIP, path, "central directory at " + cdOffset + " of " + cdSize + " bytes runs past its end record at " + cdLimit);
        }
        if (cdSize > MAX_CENTRAL_DIRECTORY) {
            throw new PyTorchException(INVALID_ZIP, path, "a central directory of " + cdSize + " bytes; headscan reads at most " + MAX_CENTRAL_DIRECTORY
                    + " (a checkpoint's has about 100 bytes per tensor)");
        }
        if (entries > cdSize / CENTRAL_HEADER) {
            throw new PyTorchException(INVALID_ZIP, path, entries + " entries cannot fit a " + cdSize + "-byte central directory");
        }
        List<Entry> out = new ArrayList<>((int) Math.min(entries, 1024));
        Set<String> names = new HashSet<>();
        // the central directory, copied once (bounded above) and read from an array: fast before the JIT has compiled
        // anything, which is when a command opens its checkpoint
        byte[] cdBytes = f.asSlice(cdOffset, cdSize).toArray(ValueLayout.JAVA_BYTE);
        java.nio.ByteBuffer cd = java.nio.ByteBuffer.wrap(cdBytes).order(ByteOrder.LITTLE_ENDIAN);
        int p = 0, cdEnd = cdBytes.length;
        for (long i = 0; i < entries; i++) {
            if (cdEnd - p < CENTRAL_HEADER || cd.getInt(p) != CENTRAL) {
                throw new PyTorchException(INVALID_ZIP, path, "central directory entry " + i + " is damaged (at byte " + (cdOffset + p) + ")");
            }
            int flags = cd.getShort(p + 8) & 0xffff;
            int method = cd.getShort(p + 10) & 0xffff;
            long csize = cd.getInt(p + 20) & U32_MAX, usize = cd.getInt(p + 24) & U32_MAX;
            int nameLen = cd.getShort(p + 28) & 0xffff, extraLen = cd.getShort(p + 30) & 0xffff, commentLen = cd.getShort(p + 32) & 0xffff;
            long local = cd.getInt(p + 42) & U32_MAX;
            int headerLen = CENTRAL_HEADER + nameLen + extraLen + commentLen;   // at most 46 + 3 * 65535: no int overflow
            if (headerLen > cdEnd - p) {
                throw new PyTorchException(INVALID_ZIP, path, "central directory entry " + i + " runs past the directory's end");
            }
            String name = entryName(cdBytes, p + CENTRAL_HEADER, nameLen, path, i);
            // ZIP64 extended information: the fields whose 32-bit value is all ones, in this order
            int x = p + CENTRAL_HEADER + nameLen, xEnd = x + extraLen;
            while (xEnd - x >= 4) {
                int id = cd.getShort(x) & 0xffff, len = cd.getShort(x + 2) & 0xffff;
                if (len > xEnd - x - 4) throw new PyTorchException(INVALID_ZIP, path, "entry " + name + ": extra field runs past its header");
                if (id == 1) {
                    int q = x + 4, qEnd = q + len;
                    if (usize == U32_MAX) { usize = need64(cd, q, qEnd, path, name); q += 8; }
                    if (csize == U32_MAX) { csize = need64(cd, q, qEnd, path, name); q += 8; }
                    if (local == U32_MAX) { local = need64(cd, q, qEnd, path, name); }
                }
                x += 4 + len;
            }
            if ((flags & 1) != 0) throw new PyTorchException(COMPRESSED_ENTRY, path, "entry " + name + " is encrypted");
            if (method != 0) throw new PyTorchException(COMPRESSED_ENTRY, path, "entry " + name + " is compressed (method " + method + "); PyTorch stores every entry uncompressed so that it can be mapped");
            if (csize != usize) throw new PyTorchException(INVALID_ZIP, path, "entry " + name + " is stored but its sizes differ (" + csize + " and " + usize + ")");
            // a reader that looks names up would see only one of two same-named entries, and which one differs between readers
            if (!names.add(name)) throw new PyTorchException(DUPLICATE_ENTRY, path, "entry " + name + " appears twice in the central directory");
            if (local > size - LOCAL_HEADER) throw new PyTorchException(ENTRY_OUT_OF_BOUNDS, path, "entry " + name + ": local header at " + local + " lies past the end of the " + size + "-byte file");
            if (u32(f, local) != LOCAL) throw new PyTorchException(INVALID_ZIP, path, "entry " + name + ": no local header at byte " + local);
            int localMethod = u16(f, local + 8), localNameLen = u16(f, local + 26), localExtraLen = u16(f, local + 28);
            long localName = local + LOCAL_HEADER;   // at most the file's size: no overflow in what follows
            if (localNameLen != nameLen || localNameLen > size - localName
                    || MemorySegment.mismatch(f, localName, localName + nameLen, MemorySegment.ofArray(cdBytes), p + CENTRAL_HEADER, p + CENTRAL_HEADER + nameLen) != -1) {
                throw new PyTorchException(LOCAL_HEADER_MISMATCH, path, "entry " + name + ": its local header at byte " + local + " names another entry");
            }
            if (localMethod != method) {
                throw new PyTorchException(LOCAL_HEADER_MISMATCH, path, "entry " + name + ": its local header says method " + localMethod + ", the central directory " + method);
            }
            long data = localName + nameLen + localExtraLen;
            if (data > size || usize > size - data) {
                throw new PyTorchException(ENTRY_OUT_OF_BOUNDS, path, "entry " + name + ": data at " + data + " of " + usize + " bytes runs past the end of the " + size + "-byte file");
            }
            out.add(new Entry(name, local, data, usize, (flags & 8) != 0));
            p += headerLen;
        }
        checkDisjoint(out, cdOffset, path);
        return new ZipIndex(out);
    }

    /** An entry's name, which must be UTF-8: a lenient decoding could give two different names the same string. */
    private static String entryName(byte[] cd, int at, int len, Path path, long i) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(cd, at, len)).toString();
        } catch (CharacterCodingException e) {
            throw new PyTorchException(INVALID_ZIP, path, "central directory entry " + i + ": its name is not UTF-8");
        }
    }

    private static final Comparator<Entry> BY_OFFSET = new Comparator<>() {
        @Override
        public int compare(Entry a, Entry b) {
            return Long.compare(a.headerOffset(), b.headerOffset());
        }
    };

    /** Every member's [local header, end of data) is disjoint from every other's and ends before the central directory. */
    private static void checkDisjoint(List<Entry> entries, long cdOffset, Path path) {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(BY_OFFSET);
        Entry prev = null;
        for (Entry e : sorted) {
            if (prev != null && e.headerOffset() < prev.end()) {
                throw new PyTorchException(OVERLAPPING_ENTRIES, path, "entry " + e.name() + " (from byte " + e.headerOffset() + ") overlaps entry "
                        + prev.name() + " (to byte " + prev.end() + ")");
            }
            if (e.end() > cdOffset) {
                throw new PyTorchException(OVERLAPPING_ENTRIES, path, "entry " + e.name() + " (to byte " + e.end() + ") runs into the central directory at " + cdOffset);
            }
            prev = e;
        }
    }

    /** The end-of-central-directory record: searched backwards over the last 64 KiB + 22 bytes (its comment may follow). */
    private static long findEocd(MemorySegment f, long size, Path path) {
        if (size < 22) throw new PyTorchException(NOT_A_ZIP, path, "file has " + size + " bytes, fewer than a ZIP end record");
        long stop = Math.max(0, size - 22 - 0xffff);
        for (long p = size - 22; p >= stop; p--) {
            if (u32(f, p) == EOCD && p + 22 + u16(f, p + 20) == size) return p;
        }
        throw new PyTorchException(NOT_A_ZIP, path, "no end-of-central-directory record (truncated, or not a ZIP archive)");
    }

    private static long need64(java.nio.ByteBuffer cd, int q, int end, Path path, String name) {
        if (q + 8 > end) throw new PyTorchException(INVALID_ZIP, path, "entry " + name + ": ZIP64 extra field is too short");
        long v = cd.getLong(q);
        if (v < 0) throw new PyTorchException(INVALID_ZIP, path, "entry " + name + " ZIP64 field is out of range (" + Long.toUnsignedString(v) + ")");
        return v;
    }

    private static long u64(MemorySegment f, long at, Path path, String what) {
        long v = f.get(U64, at);
        if (v < 0) throw new PyTorchException(INVALID_ZIP, path, what + " is out of range (" + Long.toUnsignedString(v) + ")");
        return v;
    }

    private static long u32(MemorySegment f, long at) {
        return f.get(U32, at) & U32_MAX;
    }

    private static int u16(MemorySegment f, long at) {
        return f.get(U16, at) & 0xffff;
    }

}
