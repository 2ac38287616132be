package io.headscan.format;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * Writes a safetensors file: header, then tensors back to back in the order they were added.
 *
 * <p>The file is written to a temporary file in the target folder, filled through a writable
 * mapping (so tensor contents are produced in place, in parallel, without heap copies), forced to
 * disk and atomically renamed over the target: a reader never sees a half-written file, and a file
 * that may be mapped elsewhere is never written in place.
 */
public final class SafetensorsWriter {

    /** Produces a tensor's bytes (little-endian) directly into its slice of the output mapping. */
    @FunctionalInterface
    public interface Filler {
        void fill(MemorySegment target);
    }

    private record Entry(String name, DType dtype, long[] shape, long bytes, Filler filler) {}

    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, Boolean> names = new LinkedHashMap<>();
    private int parallelism = Runtime.getRuntime().availableProcessors();
    private String checksumKey;

    /** Placeholder of the checksum's width; patched in place once the data is written. */
    private static final String CHECKSUM_PLACEHOLDER = "00000000";

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /**
     * Records the CRC32C of the data section (8 hex digits) as metadata {@code key}, so a reader can
     * detect corrupted data, not only a broken layout (see {@link SafetensorsFile#dataCrc32c()}).
     */
    public SafetensorsWriter dataChecksum(String key) {
        this.checksumKey = key;
        metadata.put(key, CHECKSUM_PLACEHOLDER);
        return this;
    }

    public SafetensorsWriter parallelism(int threads) {
        this.parallelism = Math.max(1, threads);
        return this;
    }

    public SafetensorsWriter add(String name, DType dtype, long[] shape, Filler filler) {
        if (SafetensorsHeader.METADATA_KEY.equals(name)) throw new IllegalArgumentException("reserved tensor name " + name);
        if (names.put(name, Boolean.TRUE) != null) throw new IllegalArgumentException("duplicate tensor name " + name);
        long n = 1;
        for (long s : shape) {
            if (s < 0) throw new IllegalArgumentException("negative dimension in " + name);
            n = Math.multiplyExact(n, s);
        }
        entries.add(new Entry(name, dtype, shape.clone(), Math.multiplyExact(n, (long) dtype.bytes()), filler));
        return this;
    }

    /** Adds an F32 tensor copied from float values. */
    public SafetensorsWriter addF32(String name, long[] shape, float[] values) {
        return add(name, DType.F32, shape, seg -> MemorySegment.copy(values, 0, seg,
                ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, values.length));
    }

    /** The header JSON, padded with spaces to a multiple of 8 bytes as common writers do. */
    public byte[] headerBytes() {
        StringWriter sw = new StringWriter();
        try (JsonGenerator g = new JsonFactory().createGenerator(sw)) {
            g.writeStartObject();
            if (!metadata.isEmpty()) {
                g.writeObjectFieldStart(SafetensorsHeader.METADATA_KEY);
                for (var e : metadata.entrySet()) g.writeStringField(e.getKey(), e.getValue());
                g.writeEndObject();
            }
            long offset = 0;
            for (Entry e : entries) {
                g.writeObjectFieldStart(e.name());
                g.writeStringField("dtype", e.dtype().name());
                g.writeArrayFieldStart("shape");
                for (long s : e.shape()) g.writeNumber(s);
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                g.writeNumber(offset + e.bytes());
                g.writeEndArray();
                g.writeEndObject();
                offset += e.bytes();
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        byte[] json = sw.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        for (int i = json.length; i < padded; i++) out[i] = ' ';
        return out;
    }

    /** Total size of the file {@link #write} produces. */
    public long fileSize() {
        long data = 0;
        for (Entry e : entries) data += e.bytes();
        return 8 + headerBytes().length + data;
    }

    private void patchChecksum(MemorySegment out, byte[] header, long dataStart) {
        String crc = SafetensorsFile.crc32c(out.asSlice(dataStart));
        byte[] needle = ("\"" + checksumKey + "\":\"" + CHECKSUM_PLACEHOLDER + "\"").getBytes(StandardCharsets.UTF_8);
        int at = indexOf(header, needle);
        if (at < 0) throw new IllegalStateException("checksum placeholder not found in header");
        byte[] value = crc.getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(value, 0, out, ValueLayout.JAVA_BYTE, 8 + at + needle.length - 1 - value.length, value.length);
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) continue outer;
            }
            return i;
        }
        return -1;
    }

    /** Writes the file atomically (temp file in the same folder + rename). */
    public void write(Path target) throws IOException {
        Path tmp = io.headscan.AtomicFiles.tempBeside(target);
        byte[] header = headerBytes();
        long dataStart = 8 + header.length;
        long total = fileSize();
        boolean ok = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.READ, StandardOpenOption.WRITE);
                 Arena arena = Arena.ofShared()) {
                MemorySegment out = ch.map(FileChannel.MapMode.READ_WRITE, 0, total, arena);
                out.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, header.length);
                MemorySegment.copy(header, 0, out, ValueLayout.JAVA_BYTE, 8, header.length);
                long[] offsets = new long[entries.size()];
                long off = dataStart;
                for (int i = 0; i < entries.size(); i++) {
                    offsets[i] = off;
                    off += entries.get(i).bytes();
                }
                var pool = new java.util.concurrent.ForkJoinPool(parallelism);
                try {
                    pool.submit(() -> IntStream.range(0, entries.size()).parallel().forEach(i -> {
                        Entry e = entries.get(i);
                        if (e.bytes() > 0) e.filler().fill(out.asSlice(offsets[i], e.bytes()));
                    })).get();
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while writing " + target, ie);
                } catch (java.util.concurrent.ExecutionException ee) {
                    Throwable c = ee.getCause();
                    if (c instanceof RuntimeException re) throw re;
                    if (c instanceof Error err) throw err;
                    throw new IOException(c);
                } finally {
                    pool.shutdown();
                }
                if (checksumKey != null) patchChecksum(out, header, dataStart);
                out.force();
            }
            io.headscan.AtomicFiles.move(tmp, target);
            ok = true;
        } finally {
            if (!ok) io.headscan.AtomicFiles.discard(tmp);
        }
    }
}
