package io.headscan.format;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * Writes a state dict of contiguous tensors as a PyTorch ZIP checkpoint, the way {@code torch.save} lays one out:
 * every entry stored under one folder, data aligned to 64 bytes by padding in the local header's extra field,
 * {@code data.pkl} a protocol-2 pickle of an OrderedDict of {@code _rebuild_tensor_v2} calls on persistent storage ids.
 * Used by {@code synth --format pytorch} and by tests, which also turn on the variants real files show (ZIP64 records,
 * data descriptors, another folder name, 1.7-style pointer keys without a {@code byteorder} record).
 *
 * <p>The file is written to a temporary file beside the target and renamed over it when complete.
 */
public final class PyTorchZipWriter {

    private record Tensor(String name, DType dtype, long[] shape, MemorySegment bytes, String tiedTo) {}

    private final List<Tensor> tensors = new ArrayList<>();
    private String folder = "archive";
    private boolean zip64 = true;
    private boolean dataDescriptors;
    private boolean byteorderRecord = true;
    private boolean metadata = true;
    private boolean pointerKeys;

    public PyTorchZipWriter folder(String name) {
        this.folder = name;
        return this;
    }

    /** ZIP64 records and extra fields (PyTorch's writer always emits them); off gives a plain ZIP. */
    public PyTorchZipWriter zip64(boolean on) {
        this.zip64 = on;
        return this;
    }

    /** Sizes and CRCs in data descriptors after each entry, the local header's left zero. */
    public PyTorchZipWriter dataDescriptors(boolean on) {
        this.dataDescriptors = on;
        return this;
    }

    /** The {@code byteorder} record of PyTorch 1.10+ (absent in older files, meaning little-endian). */
    public PyTorchZipWriter byteorderRecord(boolean on) {
        this.byteorderRecord = on;
        return this;
    }

    /** The {@code _metadata} of {@code Module.state_dict()}, pickled as BUILD on the OrderedDict. */
    public PyTorchZipWriter stateDictMetadata(boolean on) {
        this.metadata = on;
        return this;
    }

    /** Storage keys like 1.7-era files (large decimal numbers, pointer-like) instead of 0, 1, 2... */
    public PyTorchZipWriter pointerKeys(boolean on) {
        this.pointerKeys = on;
        return this;
    }

    /** Adds a tensor whose little-endian bytes are {@code bytes} (read when writing). */
    public PyTorchZipWriter add(String name, DType dtype, long[] shape, MemorySegment bytes) {
        long n = 1;
        for (long s : shape) n = Math.multiplyExact(n, s);
        if (n * dtype.bytes() != bytes.byteSize()) throw new IllegalArgumentException(name + ": " + bytes.byteSize() + " bytes for " + n + " elements of " + dtype);
        storageType(dtype);
        tensors.add(new Tensor(name, dtype, shape.clone(), bytes, null));
        return this;
    }

    /** Adds {@code name} as the same tensor (same storage) as the earlier {@code target}, as GPT-2's tied lm_head is saved. */
    public PyTorchZipWriter tie(String name, String target) {
        Tensor t = tensors.stream().filter(x -> x.name().equals(target) && x.tiedTo() == null).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no tensor " + target + " to tie " + name + " to"));
        tensors.add(new Tensor(name, t.dtype(), t.shape(), t.bytes(), target));
        return this;
    }

    /** Every tensor of a checkpoint, in its order (a checkpoint read from PyTorch keeps its ties when bytes coincide). */
    public PyTorchZipWriter addAll(MappedCheckpoint c) {
        Map<String, String> firstAt = new LinkedHashMap<>();
        for (TensorInfo t : c.tensors()) {
            String key = c.fileOf(t) + "@" + c.fileOffset(t) + "+" + t.byteSize() + t.dtype() + java.util.Arrays.toString(t.shape());
            String earlier = t.byteSize() > 0 ? firstAt.putIfAbsent(key, t.name()) : null;
            if (earlier != null) tie(t.name(), earlier);
            else add(t.name(), t.dtype(), t.shape(), c.segment(t));
        }
        return this;
    }

    static String storageType(DType d) {
        return switch (d) {
            case F32 -> "FloatStorage";
            case F16 -> "HalfStorage";
            case BF16 -> "BFloat16Storage";
            case F64 -> "DoubleStorage";
            case U8 -> "ByteStorage";
            case I8 -> "CharStorage";
            case I16 -> "ShortStorage";
            case I32 -> "IntStorage";
            case I64 -> "LongStorage";
            case BOOL -> "BoolStorage";
            default -> throw new IllegalArgumentException("PyTorch has no storage type for " + d);
        };
    }

    /** The pickle of the state dict (protocol 2). */
    byte[] pickle(List<String> keys) {
        PickleWriter p = new PickleWriter().proto(2);
        p.global("collections", "OrderedDict").emptyTuple().reduce();
        p.put();
        p.mark();
        Map<String, Integer> memoOf = new LinkedHashMap<>();
        int storage = 0;
        for (Tensor t : tensors) {
            p.unicode(t.name());
            if (t.tiedTo() != null) {
                p.get(memoOf.get(t.tiedTo()));
                continue;
            }
            p.global("torch._utils", "_rebuild_tensor_v2");
            p.mark();
            p.mark().unicode("storage").global("torch", storageType(t.dtype())).unicode(keys.get(storage++)).unicode("cpu")
                    .integer(elements(t)).tuple();
            p.binpersid();
            p.integer(0);
            p.mark();
            for (long s : t.shape()) p.integer(s);
            p.tuple();
            p.mark();
            long run = 1;
            long[] stride = new long[t.shape().length];
            for (int i = stride.length - 1; i >= 0; i--) {
                stride[i] = run;
                run *= Math.max(1, t.shape()[i]);
            }
            for (long s : stride) p.integer(s);
            p.tuple();
            p.bool(false);
            p.global("collections", "OrderedDict").emptyTuple().reduce();
            p.tuple();
            p.reduce();
            memoOf.put(t.name(), p.put());
        }
        p.setItems();
        if (metadata) {
            p.emptyDict().unicode("_metadata").global("collections", "OrderedDict").emptyTuple().reduce()
                    .unicode("").emptyDict().unicode("version").integer(1).setItem().setItem().setItem().build();
        }
        return p.stop().bytes();
    }

    private static long elements(Tensor t) {
        long n = 1;
        for (long s : t.shape()) n *= s;
        return n;
    }

    /** Writes the checkpoint atomically. */
    public void write(Path target) throws IOException {
        List<String> keys = new ArrayList<>();
        long pointer = 94_000_000_000_000L + 4242;
        for (Tensor t : tensors) {
            if (t.tiedTo() != null) continue;
            keys.add(pointerKeys ? Long.toString(pointer) : Integer.toString(keys.size()));
            pointer += 16_384 + 64L * keys.size();
        }
        Path tmp = io.headscan.AtomicFiles.tempBeside(target);
        boolean ok = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                Zip z = new Zip(ch);
                z.entry(folder + "/data.pkl", List.of(MemorySegment.ofArray(pickle(keys))));
                if (byteorderRecord) z.entry(folder + "/byteorder", List.of(MemorySegment.ofArray("little".getBytes(StandardCharsets.US_ASCII))));
                int k = 0;
                for (Tensor t : tensors) {
                    if (t.tiedTo() == null) z.entry(folder + "/data/" + keys.get(k++), List.of(t.bytes()));
                }
                z.entry(folder + "/version", List.of(MemorySegment.ofArray("3\n".getBytes(StandardCharsets.US_ASCII))));
                z.finish();
                ch.force(true);
            }
            io.headscan.AtomicFiles.move(tmp, target);
            ok = true;
        } finally {
            if (!ok) io.headscan.AtomicFiles.discard(tmp);
        }
    }

    /** Writes a stored ZIP of these entries as they are (tests build damaged and hostile checkpoints with it). */
    static void writeRaw(Path target, Map<String, byte[]> entries, boolean zip64, boolean dataDescriptors) throws IOException {
        PyTorchZipWriter w = new PyTorchZipWriter().zip64(zip64).dataDescriptors(dataDescriptors);
        try (FileChannel ch = FileChannel.open(target, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            Zip z = w.new Zip(ch);
            for (var e : entries.entrySet()) z.entry(e.getKey(), List.of(MemorySegment.ofArray(e.getValue())));
            z.finish();
        }
    }

    /** The ZIP container, written sequentially. */
    private final class Zip {
        private record Central(byte[] name, long crc, long size, long offset) {}

        private final FileChannel ch;
        private final List<Central> central = new ArrayList<>();
        private long pos;

        Zip(FileChannel ch) {
            this.ch = ch;
        }

        void entry(String name, List<MemorySegment> parts) throws IOException {
            byte[] n = name.getBytes(StandardCharsets.UTF_8);
            CRC32 crc = new CRC32();
            long size = 0;
            for (MemorySegment s : parts) {
                for (long off = 0; off < s.byteSize(); off += 1 << 24) crc.update(s.asSlice(off, Math.min(1 << 24, s.byteSize() - off)).asByteBuffer());
                size += s.byteSize();
            }
            long local = pos;
            int z64 = zip64 ? 20 : 0;
            long beforePad = local + 30 + n.length + z64 + 4;
            int pad = (int) ((64 - beforePad % 64) % 64);
            ByteBuffer h = le(30 + n.length + z64 + 4 + pad);
            h.putInt(0x04034b50).putShort((short) (zip64 ? 45 : 20)).putShort((short) (dataDescriptors ? 8 : 0)).putShort((short) 0)
                    .putShort((short) 0).putShort((short) 0x21);
            if (dataDescriptors) h.putInt(0).putInt(0).putInt(0);
            else h.putInt((int) crc.getValue()).putInt(zip64 ? -1 : (int) size).putInt(zip64 ? -1 : (int) size);
            h.putShort((short) n.length).putShort((short) (z64 + 4 + pad)).put(n);
            if (zip64) h.putShort((short) 1).putShort((short) 16).putLong(dataDescriptors ? 0 : size).putLong(dataDescriptors ? 0 : size);
            h.putShort((short) 0x4246).putShort((short) pad);   // "FB": PyTorch's alignment padding
            for (int i = 0; i < pad; i++) h.put((byte) 'Z');
            write(h.flip());
            for (MemorySegment s : parts) {
                for (long off = 0; off < s.byteSize(); off += 1 << 26) write(s.asSlice(off, Math.min(1 << 26, s.byteSize() - off)).asByteBuffer());
            }
            if (dataDescriptors) {
                ByteBuffer d = le(zip64 ? 24 : 16);
                d.putInt(0x08074b50).putInt((int) crc.getValue());
                if (zip64) d.putLong(size).putLong(size);
                else d.putInt((int) size).putInt((int) size);
                write(d.flip());
            }
            central.add(new Central(n, crc.getValue(), size, local));
        }

        void finish() throws IOException {
            long cdStart = pos;
            for (Central c : central) {
                int z64 = zip64 ? 28 : 0;
                ByteBuffer h = le(46 + c.name().length + z64);
                h.putInt(0x02014b50).putShort((short) (zip64 ? 45 : 20)).putShort((short) (zip64 ? 45 : 20))
                        .putShort((short) (dataDescriptors ? 8 : 0)).putShort((short) 0).putShort((short) 0).putShort((short) 0x21)
                        .putInt((int) c.crc()).putInt(zip64 ? -1 : (int) c.size()).putInt(zip64 ? -1 : (int) c.size())
                        .putShort((short) c.name().length).putShort((short) z64).putShort((short) 0).putShort((short) 0)
                        .putShort((short) 0).putInt(0).putInt(zip64 ? -1 : (int) c.offset()).put(c.name());
                if (zip64) h.putShort((short) 1).putShort((short) 24).putLong(c.size()).putLong(c.size()).putLong(c.offset());
                write(h.flip());
            }
            long cdSize = pos - cdStart;
            if (zip64) {
                long rec = pos;
                ByteBuffer e = le(56 + 20);
                e.putInt(0x06064b50).putLong(44).putShort((short) 45).putShort((short) 45).putInt(0).putInt(0)
                        .putLong(central.size()).putLong(central.size()).putLong(cdSize).putLong(cdStart);
                e.putInt(0x07064b50).putInt(0).putLong(rec).putInt(1);
                write(e.flip());
            }
            ByteBuffer e = le(22);
            int count = zip64 ? 0xffff : central.size();
            e.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) count).putShort((short) count)
                    .putInt(zip64 ? -1 : (int) cdSize).putInt(zip64 ? -1 : (int) cdStart).putShort((short) 0);
            write(e.flip());
        }

        private void write(ByteBuffer b) throws IOException {
            while (b.hasRemaining()) pos += ch.write(b, pos);
        }
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Builds a pickle opcode by opcode (what {@link PyTorchZipWriter} and tests of the reader need). */
    static final class PickleWriter {
        private final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        private int memo;

        PickleWriter op(int code) {
            out.write(code);
            return this;
        }

        PickleWriter raw(byte[] b) {
            out.writeBytes(b);
            return this;
        }

        PickleWriter proto(int v) { return op(0x80).op(v); }
        PickleWriter global(String module, String name) { return op('c').raw((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII)); }
        PickleWriter mark() { return op('('); }
        PickleWriter tuple() { return op('t'); }
        PickleWriter emptyTuple() { return op(')'); }
        PickleWriter emptyDict() { return op('}'); }
        PickleWriter emptyList() { return op(']'); }
        PickleWriter reduce() { return op('R'); }
        PickleWriter build() { return op('b'); }
        PickleWriter setItem() { return op('s'); }
        PickleWriter setItems() { return op('u'); }
        PickleWriter append() { return op('a'); }
        PickleWriter binpersid() { return op('Q'); }
        PickleWriter none() { return op('N'); }
        PickleWriter bool(boolean v) { return op(v ? 0x88 : 0x89); }
        PickleWriter stop() { return op('.'); }

        PickleWriter integer(long v) {
            if (v >= 0 && v < 256) return op('K').op((int) v);
            if (v >= 0 && v < 65536) return op('M').op((int) (v & 0xff)).op((int) (v >> 8));
            if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) return op('J').raw(le(4).putInt((int) v).array());
            return op(0x8a).op(8).raw(le(8).putLong(v).array());
        }

        PickleWriter unicode(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            return op('X').raw(le(4).putInt(b.length).array()).raw(b);
        }

        /** LONG_BINPUT of the next memo index; returns that index. */
        int put() {
            op('r').raw(le(4).putInt(memo).array());
            return memo++;
        }

        PickleWriter get(int index) {
            return op('j').raw(le(4).putInt(index).array());
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }
}
