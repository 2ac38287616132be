package io.headscan.format;

import static io.headscan.format.SafetensorsException.Kind.*;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A safetensors file mapped read-only into memory.
 *
 * <p>The header is read and fully validated with plain channel reads before anything is mapped
 * (rule 9 catches a file truncated at rest before any mapped access). The whole file is then mapped
 * once into a shared {@link Arena}: shared because worker threads read tensors concurrently, and
 * one arena per file so that {@link #close()} unmaps it deterministically. Tensor segments are
 * zero-copy slices of that mapping and die with it.
 */
public final class SafetensorsFile implements MappedCheckpoint {

    /** Little-endian, unaligned: GPT-2's data section starts at byte 14291 (docs/science.md §6.9). */
    public static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final long fileSize;
    private final long headerLength;
    private final SafetensorsHeader header;
    private final Arena arena;
    private final MemorySegment mapping;
    private final AtomicBoolean closed = new AtomicBoolean();

    private SafetensorsFile(Path path, long fileSize, long headerLength, SafetensorsHeader header, Arena arena, MemorySegment mapping) {
        this.path = path;
        this.fileSize = fileSize;
        this.headerLength = headerLength;
        this.header = header;
        this.arena = arena;
        this.mapping = mapping;
    }

    /**
     * Opens, validates and maps a safetensors file. Every failure is a {@link CheckpointFormatException} naming the
     * file: a {@link SafetensorsException}, or a {@link CheckpointRefusedException} when reading it exhausted the heap or
     * the stack.
     */
    public static SafetensorsFile open(Path path) {
        return CheckpointRefusedException.whileOpening(path, CheckpointFormatException.Container.SAFETENSORS, () -> openMapped(path));
    }

    private static SafetensorsFile openMapped(Path path) {
        String special = RegularFile.problem(path);
        if (special != null) throw new SafetensorsException(SafetensorsException.Kind.IO, path, null, special);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            long n = readHeaderLength(ch, size, path);
            byte[] headerBytes = new byte[(int) n];
            readFully(ch, ByteBuffer.wrap(headerBytes), 8, path, "the header");
            SafetensorsHeader header = SafetensorsHeader.parse(headerBytes, path);
            long expected = 8 + n + header.dataLength();
            if (expected != size) {
                String detail = size > expected
                        ? (size - expected) + " trailing bytes after the last tensor (file has " + size + " bytes, header describes " + expected + ")"
                        : "file truncated: " + (expected - size) + " bytes missing (file has " + size + " bytes, header describes " + expected + ")";
                throw new SafetensorsException(FILE_SIZE_MISMATCH, path, null, detail);
            }
            Arena arena = Arena.ofShared();
            MemorySegment mapping;
            try {
                mapping = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
            return new SafetensorsFile(path, size, n, header, arena, mapping);
        } catch (NoSuchFileException e) {
            throw new SafetensorsException(IO, path, null, "no such file");
        } catch (IOException e) {
            throw new SafetensorsException(IO, path, null, e.toString(), e);
        }
    }

    /**
     * When a header length is impossible and no JSON object follows the 8-byte prefix, the file is most likely not a
     * safetensors file at all (text, a pickle, a zip): say so first, with what it starts with.
     */
    private static String notSafetensors(FileChannel ch, long size) throws IOException {
        ByteBuffer head = ByteBuffer.allocate((int) Math.min(size, 24));
        while (head.hasRemaining() && ch.read(head, head.position()) > 0) { /* read on */ }
        head.flip();
        if (head.remaining() > 8 && head.get(8) == '{') return "";
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < head.remaining(); i++) {
            int c = head.get(i) & 0xff;
            sb.append(c >= 0x20 && c < 0x7f ? String.valueOf((char) c) : String.format(java.util.Locale.ROOT, "\\x%02x", c));
        }
        return "not a safetensors file (it starts with \"" + sb + "\", not an 8-byte header length and a JSON header); ";
    }

    /** Rules 1–3, decided before any allocation. */
    private static long readHeaderLength(FileChannel ch, long size, Path path) throws IOException {
        if (size < 8) {
            throw new SafetensorsException(HEADER_TOO_SMALL, path, null, "file has " + size + " bytes, fewer than the 8-byte length prefix");
        }
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, b, 0, path, "the 8-byte header length");
        long n = b.flip().getLong();
        if (Long.compareUnsigned(n, SafetensorsHeader.MAX_HEADER_LENGTH) > 0) {
            throw new SafetensorsException(HEADER_TOO_LARGE, path, null, notSafetensors(ch, size)
                    + "header length " + Long.toUnsignedString(n) + " exceeds " + SafetensorsHeader.MAX_HEADER_LENGTH);
        }
        if (8 + n > size) {
            throw new SafetensorsException(INVALID_HEADER_LENGTH, path, null, notSafetensors(ch, size)
                    + "header length " + n + " runs past the end of the " + size + "-byte file");
        }
        return n;
    }

    /**
     * Fills {@code b} from {@code position} on. A file can end before the size it had when it was opened (it shrank, or
     * it is a special file whose size is nominal): the loop ends there with a named error instead of reading on forever.
     */
    static void readFully(FileChannel ch, ByteBuffer b, long position, Path path, String what) throws IOException {
        long start = position - b.position();
        while (b.hasRemaining()) {
            if (ch.read(b, start + b.position()) <= 0) {
                throw new SafetensorsException(INVALID_HEADER_LENGTH, path, null, "file ended inside " + what + " (at byte " + (start + b.position())
                        + "; it was modified or truncated while it was read, or is not a regular file)");
            }
        }
    }

    @Override
    public Format format() {
        return Format.SAFETENSORS;
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public List<Path> files() {
        return List.of(path);
    }

    @Override
    public Path fileOf(TensorInfo t) {
        return path;
    }

    @Override
    public long fileOffset(TensorInfo t) {
        return dataStart() + t.begin();
    }

    @Override
    public List<MemorySegment> mappings() {
        return List.of(mapping());
    }

    @Override
    public long fileSize() {
        return fileSize;
    }

    /** Length N of the JSON header. */
    public long headerLength() {
        return headerLength;
    }

    /** Absolute file offset of the data section (8 + N). */
    public long dataStart() {
        return 8 + headerLength;
    }

    @Override
    public Map<String, String> metadata() {
        return header.metadata();
    }

    /** Tensors in file order (sorted by offset). */
    @Override
    public List<TensorInfo> tensors() {
        return header.tensors();
    }

    @Override
    public boolean has(String name) {
        return header.byName().containsKey(name);
    }

    @Override
    public TensorInfo info(String name) {
        TensorInfo t = header.byName().get(name);
        if (t == null) throw new SafetensorsException(TENSOR_NOT_FOUND, path, name, "no such tensor in the file");
        return t;
    }

    /** The tensor's bytes as a zero-copy, read-only slice of the mapping. */
    @Override
    public MemorySegment segment(String name) {
        return segment(info(name));
    }

    @Override
    public MemorySegment segment(TensorInfo t) {
        ensureOpen();
        return mapping.asSlice(dataStart() + t.begin(), t.byteSize());
    }

    /** The whole mapped file (for hashing and statistics). */
    public MemorySegment mapping() {
        ensureOpen();
        return mapping;
    }

    /** CRC32C of the data section, 8 lower-case hex digits. */
    public String dataCrc32c() {
        ensureOpen();
        return crc32c(mapping.asSlice(dataStart()));
    }

    /** CRC32C of a segment's bytes, 8 lower-case hex digits. */
    public static String crc32c(MemorySegment bytes) {
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        long size = bytes.byteSize();
        for (long off = 0; off < size; off += 1L << 24) {
            crc.update(bytes.asSlice(off, Math.min(1L << 24, size - off)).asByteBuffer());
        }
        return String.format("%08x", crc.getValue());
    }

    @Override
    public boolean isOpen() {
        return !closed.get();
    }

    private void ensureOpen() {
        if (closed.get()) throw new SafetensorsException(CLOSED, path, null, "the model was closed; its tensors can no longer be read");
    }

    /** Unmaps the file; idempotent. Segments obtained earlier become inaccessible. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) arena.close();
    }

    /**
     * Translates the errors that mapped memory raises into named ones: use after close
     * ({@link IllegalStateException} from a closed scope) and a file truncated while mapped
     * (the JVM's {@link InternalError} for a fault in an unsafe memory access).
     * Returns null when the throwable is not one of those.
     */
    public static SafetensorsException translate(Throwable t, Path path) {
        if (t instanceof SafetensorsException se) return se;
        if (t instanceof IllegalStateException ise && String.valueOf(ise.getMessage()).contains("closed")) {
            return new SafetensorsException(CLOSED, path, null, "the model was closed; its tensors can no longer be read", ise);
        }
        // the JVM's own words for SIGBUS on a mapping: "a fault occurred in an unsafe memory access operation" (or "in a
        // recent unsafe memory access operation in compiled Java code")
        if (t instanceof InternalError ie && String.valueOf(ie.getMessage()).startsWith("a fault occurred in ")) {
            return new SafetensorsException(CHANGED_WHILE_MAPPED, path, null, "the file was modified or truncated while mapped", ie);
        }
        return null;
    }
}
