package io.headscan.format;

import static io.headscan.format.PyTorchException.Kind.*;

import io.headscan.format.StrictUnpickler.PyDict;
import io.headscan.format.StrictUnpickler.TensorRef;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A PyTorch checkpoint in the ZIP format of {@code torch.save} since 1.6 ({@code pytorch_model.bin}), mapped
 * read-only once, its tensors zero-copy views of the mapping exactly like {@link SafetensorsFile}'s
 * (docs/formats.md, "PyTorch checkpoints").
 *
 * <p>The ZIP is read by {@link ZipIndex} and {@code data.pkl} by {@link StrictUnpickler}, both our own code working
 * on the mapping; neither runs anything the file names. A tensor's bytes are found from its persistent id
 * {@code ('storage', type, key, location, numel)}: the record {@code data/<key>}, the tensor's storage offset counted in
 * elements, and its size. Only contiguous tensors are mapped (a GPT-2 state dict has no other kind); any other stride
 * is refused naming the tensor. Several tensors may share one storage (the tied {@code lm_head.weight}).
 */
public final class PyTorchZipFile implements MappedCheckpoint {

    private static final byte[] LEGACY_MAGIC = {(byte) 0x80, 0x02, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46,
            (byte) 0xf9, 0x20, 0x6a, (byte) 0xa8, 0x50, 0x19};

    private final Path path;
    private final long fileSize;
    private final Arena arena;
    private final MemorySegment mapping;
    private final TensorIndex tensors;
    private final Map<String, String> metadata;
    private final int storages;
    private final AtomicBoolean closed = new AtomicBoolean();

    private PyTorchZipFile(Path path, long fileSize, Arena arena, MemorySegment mapping, List<TensorInfo> tensors,
                           Map<String, String> metadata, int storages) {
        this.path = path;
        this.fileSize = fileSize;
        this.arena = arena;
        this.mapping = mapping;
        this.tensors = TensorIndex.of(tensors, name -> new PyTorchException(TENSOR_NOT_FOUND, path, "no tensor " + name + " in the checkpoint"));
        this.metadata = Collections.unmodifiableMap(metadata);
        this.storages = storages;
    }

    /**
     * Opens, validates and maps a PyTorch ZIP checkpoint. Every failure is a {@link CheckpointFormatException} naming
     * the file: a {@link PyTorchException}, or a {@link CheckpointRefusedException} when reading it exhausted the heap or
     * the stack.
     */
    public static PyTorchZipFile open(Path path) {
        return CheckpointRefusedException.whileOpening(path, CheckpointFormatException.Container.PYTORCH_ZIP, () -> openMapped(path));
    }

    private static PyTorchZipFile openMapped(Path path) {
        String special = RegularFile.problem(path);
        if (special != null) throw new PyTorchException(IO, path, special);
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            MemorySegment mapping = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            Map<String, String> md = new LinkedHashMap<>();
            int[] storageCount = new int[1];
            List<TensorInfo> tensors = parse(mapping, path, md, storageCount);
            return new PyTorchZipFile(path, size, arena, mapping, tensors, md, storageCount[0]);
        } catch (NoSuchFileException e) {
            arena.close();
            throw new PyTorchException(IO, path, "no such file");
        } catch (IOException e) {
            arena.close();
            throw new PyTorchException(IO, path, e.toString(), e);
        } catch (RuntimeException | Error e) {
            arena.close();
            SafetensorsException mapped = SafetensorsFile.translate(e, path);
            if (mapped != null && mapped.kind() == SafetensorsException.Kind.CHANGED_WHILE_MAPPED) {
                throw new PyTorchException(CHANGED_WHILE_MAPPED, path, "the file was modified or truncated while it was read", e);
            }
            throw e;
        }
    }

    private static List<TensorInfo> parse(MemorySegment f, Path path, Map<String, String> md, int[] storageCount) {
        ZipIndex zip = ZipIndex.read(f, path);
        if (zip.entries().isEmpty()) throw new PyTorchException(MISSING_RECORD, path, "the archive is empty (no data.pkl)");
        String first = zip.entries().getFirst().name();
        int slash = first.indexOf('/');
        if (slash <= 0) throw new PyTorchException(INVALID_ZIP, path, "first entry '" + first + "' is not inside the archive's folder");
        String prefix = first.substring(0, slash + 1);
        md.put("archive_folder", prefix.substring(0, slash));
        for (String rec : List.of("version", ".format_version", ".storage_alignment", "byteorder")) {
            ZipIndex.Entry e = zip.get(prefix + rec);
            if (e != null && e.size() <= 64) md.put(rec.replace(".", ""), text(f, e).strip());
        }
        String order = md.getOrDefault("byteorder", "little");
        if (order.equals("big")) {
            throw new PyTorchException(BIG_ENDIAN, path, "its tensors are stored big-endian (byteorder record 'big'); re-save it on a little-endian machine");
        }
        if (!order.equals("little")) throw new PyTorchException(INVALID_TENSOR, path, "byteorder record says '" + order + "'");
        ZipIndex.Entry pkl = zip.get(prefix + "data.pkl");
        if (pkl == null) throw new PyTorchException(MISSING_RECORD, path, "no " + prefix + "data.pkl in the archive");
        Object root = StrictUnpickler.load(f.asSlice(pkl.dataOffset(), pkl.size()), path, prefix + "data.pkl");
        if (!(root instanceof PyDict dict)) {
            throw new PyTorchException(NOT_A_STATE_DICT, path, prefix + "data.pkl holds " + StrictUnpickler.describe(root) + ", not a dict of tensors");
        }
        if (dict.hasMetadata) md.put("state_dict_metadata", "yes");
        List<TensorInfo> out = new ArrayList<>();
        java.util.Set<String> keys = new java.util.HashSet<>();
        for (var e : dict.items.entrySet()) {
            if (!(e.getKey() instanceof String name)) {
                throw new PyTorchException(NOT_A_STATE_DICT, path, "key " + StrictUnpickler.describe(e.getKey()) + " is not a tensor name");
            }
            if (!(e.getValue() instanceof TensorRef t)) continue;   // a state dict may carry plain values; only tensors are read
            out.add(tensor(f, zip, prefix, name, t, path));
            keys.add(t.storage().key());
        }
        storageCount[0] = keys.size();
        return out;
    }

    private static TensorInfo tensor(MemorySegment f, ZipIndex zip, String prefix, String name, TensorRef t, Path path) {
        String record = prefix + "data/" + t.storage().key();
        ZipIndex.Entry e = zip.get(record);
        if (e == null) throw new PyTorchException(MISSING_RECORD, path, "tensor " + name + ": its storage " + record + " is not in the archive");
        StrictUnpickler.Global type = t.storage().type();
        long storageElement = type == StrictUnpickler.Global.UNTYPED_STORAGE ? 1 : type.dtype.bytes();
        long storageBytes;
        long elements;
        try {
            storageBytes = Math.multiplyExact(t.storage().numel(), storageElement);
            elements = 1;
            for (long s : t.size()) elements = Math.multiplyExact(elements, s);
        } catch (ArithmeticException x) {
            throw new PyTorchException(INVALID_TENSOR, path, "tensor " + name + ": its size overflows");
        }
        if (storageBytes != e.size()) {
            throw new PyTorchException(INVALID_TENSOR, path, "tensor " + name + ": storage " + record + " holds " + e.size()
                    + " bytes, but its persistent id declares " + t.storage().numel() + " x " + storageElement + " bytes");
        }
        long elem = t.dtype().bytes();
        if (type != StrictUnpickler.Global.UNTYPED_STORAGE && t.dtype() != type.dtype) {
            throw new PyTorchException(UNSUPPORTED_TENSOR, path, "tensor " + name + " is " + t.dtype() + " on a " + type + " storage");
        }
        long[] expected = new long[t.size().length];
        long run = 1;
        try {
            for (int i = expected.length - 1; i >= 0; i--) {
                expected[i] = run;
                run = Math.multiplyExact(run, Math.max(1, t.size()[i]));   // a zero-size tensor's other sizes may still be huge
            }
        } catch (ArithmeticException x) {
            throw new PyTorchException(INVALID_TENSOR, path, "tensor " + name + ": its size overflows");
        }
        for (int i = 0; i < expected.length; i++) {
            if (t.size()[i] > 1 && t.stride()[i] != expected[i]) {
                throw new PyTorchException(UNSUPPORTED_TENSOR, path, "tensor " + name + " has strides " + Arrays.toString(t.stride())
                        + " for size " + Arrays.toString(t.size()) + ", not contiguous ones " + Arrays.toString(expected)
                        + "; save it with .contiguous() first");
            }
        }
        long begin, bytes;
        try {
            begin = Math.multiplyExact(t.offset(), elem);
            bytes = Math.multiplyExact(elements, elem);
        } catch (ArithmeticException x) {
            throw new PyTorchException(INVALID_TENSOR, path, "tensor " + name + ": its offset overflows");
        }
        if (elements > 0 && (begin > storageBytes || bytes > storageBytes - begin)) {
            throw new PyTorchException(INVALID_TENSOR, path, "tensor " + name + ": elements [" + t.offset() + ", +" + elements
                    + ") run past its storage " + record + " of " + storageBytes / elem + " elements");
        }
        long abs = e.dataOffset() + (elements > 0 ? begin : 0);
        return new TensorInfo(name, t.dtype(), t.size(), abs, abs + bytes);
    }

    private static String text(MemorySegment f, ZipIndex.Entry e) {
        return new String(f.asSlice(e.dataOffset(), e.size()).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }

    /** Whether a file's first bytes are the pickled magic number of PyTorch's pre-1.6 format. */
    static boolean isLegacy(byte[] head, int n) {
        if (n < LEGACY_MAGIC.length) return false;
        for (int i = 0; i < LEGACY_MAGIC.length; i++) if (head[i] != LEGACY_MAGIC[i]) return false;
        return true;
    }

    static PyTorchException legacyRefusal(Path file) {
        return new PyTorchException(LEGACY_FORMAT, file, "written by PyTorch before 1.6 (not a ZIP archive), which headscan does not read; "
                + "re-save it once where you trust it: python -c \"import torch; torch.save(torch.load('" + file.getFileName()
                + "', weights_only=True), 'pytorch_model.bin')\"");
    }

    /** Number of distinct storages the tensors use. */
    public int storageCount() {
        return storages;
    }

    @Override
    public Format format() {
        return Format.PYTORCH_ZIP;
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
    public long fileSize() {
        return fileSize;
    }

    @Override
    public List<TensorInfo> tensors() {
        return tensors.inOrder();
    }

    @Override
    public boolean has(String name) {
        return tensors.has(name);
    }

    @Override
    public TensorInfo info(String name) {
        return tensors.info(name);
    }

    @Override
    public MemorySegment segment(TensorInfo t) {
        ensureOpen();
        return mapping.asSlice(t.begin(), t.byteSize());
    }

    @Override
    public Path fileOf(TensorInfo t) {
        return path;
    }

    @Override
    public long fileOffset(TensorInfo t) {
        return t.begin();
    }

    @Override
    public Map<String, String> metadata() {
        return metadata;
    }

    @Override
    public List<MemorySegment> mappings() {
        ensureOpen();
        return List.of(mapping);
    }

    @Override
    public boolean isOpen() {
        return !closed.get();
    }

    private void ensureOpen() {
        if (closed.get()) throw new PyTorchException(CLOSED, path, "the model was closed; its tensors can no longer be read");
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) arena.close();
    }
}
