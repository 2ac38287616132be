package io.headscan.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.headscan.format.DType;
import io.headscan.format.MappedCheckpoint;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.TensorInfo;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A GPT-2-family checkpoint seen through its memory-mapped weights: a safetensors file, a PyTorch
 * {@code pytorch_model.bin} or a set of shards, all read through {@link MappedCheckpoint}.
 *
 * <p>Every dimension comes from tensor shapes; the head count from {@code config.json} beside the
 * weights, else an explicit override, else d_head = 64 (docs/science.md §0), and {@link #headCountSource()}
 * says which. Weight matrices are returned as {@link Matrix} views into the mapping: per-head
 * W_Q/W_K/W_V are column blocks of {@code c_attn} with leading dimension 3d, W_O a row block of
 * {@code c_proj}. F32 checkpoints are used in place; F16/BF16 tensors are widened once into an
 * off-heap F32 copy owned by this object (stated by {@link #zeroCopy()}).
 */
public final class Gpt2Model implements AutoCloseable {

    /** Where the number of heads came from. */
    public enum HeadCountSource {
        CONFIG("config.json n_head"), OVERRIDE("--n-head"), DEFAULT_D_HEAD_64("default d_head = 64");

        private final String label;

        HeadCountSource(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    private static final String PREFIX = "transformer.";

    private final MappedCheckpoint file;
    private final Path configPath;
    private final String prefix;
    private final Gpt2Dims dims;
    private final HeadCountSource headCountSource;
    private final Arena widened = Arena.ofShared();
    private final Map<String, MemorySegment> widenedTensors = new ConcurrentHashMap<>();

    private Gpt2Model(MappedCheckpoint file, Path configPath, String prefix, Gpt2Dims dims, HeadCountSource source) {
        this.file = file;
        this.configPath = configPath;
        this.prefix = prefix;
        this.dims = dims;
        this.headCountSource = source;
    }

    /**
     * Opens a checkpoint: a weights file ({@code .safetensors}, {@code pytorch_model.bin}, a shard index) or a folder
     * holding one (see {@link #resolveWeights}).
     *
     * @param headsOverride explicit head count, used when there is no config.json
     */
    public static Gpt2Model open(Path fileOrDir, OptionalInt headsOverride) {
        Path weights = resolveWeights(fileOrDir);
        MappedCheckpoint f = MappedCheckpoint.open(weights);
        try {
            return build(f, headsOverride);
        } catch (RuntimeException | Error e) {
            f.close();
            throw e;
        }
    }

    public static Gpt2Model open(Path fileOrDir) {
        return open(fileOrDir, OptionalInt.empty());
    }

    /** The weights files a folder may hold, in the order they are looked for (as transformers does). */
    public static final List<String> WEIGHTS_FILES = List.of("model.safetensors", "model.safetensors.index.json",
            "pytorch_model.bin", "pytorch_model.bin.index.json");

    /** A file path is used as is; a folder must hold one of {@link #WEIGHTS_FILES}, the first found is used. */
    public static Path resolveWeights(Path fileOrDir) {
        if (Files.isDirectory(fileOrDir)) {
            for (String name : WEIGHTS_FILES) {
                Path p = fileOrDir.resolve(name);
                if (Files.exists(p)) return p;
            }
            throw new ModelException(fileOrDir, "folder has no weights: looked for " + String.join(", ", WEIGHTS_FILES));
        }
        if (!Files.exists(fileOrDir)) throw new ModelException(fileOrDir, "no such file or folder");
        return fileOrDir;
    }

    private static Gpt2Model build(MappedCheckpoint f, OptionalInt headsOverride) {
        Path path = f.path();
        String prefix = f.has(Gpt2Layout.WTE) ? "" : f.has(PREFIX + Gpt2Layout.WTE) ? PREFIX : null;
        if (prefix == null) {
            throw new ModelException(path, "not a GPT-2 checkpoint: missing tensor " + Gpt2Layout.WTE + " (or " + PREFIX + Gpt2Layout.WTE + ")");
        }
        TensorInfo wte = require(f, prefix, Gpt2Layout.WTE, 2);
        TensorInfo wpe = require(f, prefix, Gpt2Layout.WPE, 2);
        TensorInfo fc0 = require(f, prefix, Gpt2Layout.fcWeight(0), 2);
        int vocab = toInt(wte.dim(0), path, wte);
        int d = toInt(wte.dim(1), path, wte);
        int nCtx = toInt(wpe.dim(0), path, wpe);
        int dMlp = toInt(fc0.dim(1), path, fc0);
        int layers = 0;
        while (f.has(prefix + Gpt2Layout.ln1Weight(layers))) layers++;
        if (layers == 0) throw new ModelException(path, "not a GPT-2 checkpoint: missing tensor " + prefix + Gpt2Layout.ln1Weight(0));

        Path config = path.resolveSibling("config.json");
        Optional<ModelConfig> cfg = io.headscan.format.CheckpointRefusedException.whileOpening(config,
                io.headscan.format.CheckpointFormatException.Container.CONFIG_JSON, () -> ModelConfig.read(config));
        if (cfg.isPresent()) cfg.get().check(vocab, d, layers, dMlp, nCtx);
        OptionalInt fromConfig = cfg.isPresent() ? cfg.get().heads() : OptionalInt.empty();
        HeadCountSource source;
        int heads;
        if (fromConfig.isPresent()) {
            heads = fromConfig.getAsInt();
            source = HeadCountSource.CONFIG;
            if (headsOverride.isPresent() && headsOverride.getAsInt() != heads) {
                throw new ModelException(config, "n_head " + heads + " contradicts --n-head " + headsOverride.getAsInt()
                        + " (--n-head is for checkpoints without a head count in config.json)");
            }
        } else if (headsOverride.isPresent()) {
            heads = headsOverride.getAsInt();
            source = HeadCountSource.OVERRIDE;
        } else {
            String why = cfg.isPresent() ? "config.json has no n_head" : "no config.json";
            if (d % 64 != 0) throw new ModelException(path, "cannot infer the head count: " + why + " and d_model " + d + " is not a multiple of 64; pass the head count explicitly");
            heads = d / 64;
            source = HeadCountSource.DEFAULT_D_HEAD_64;
        }
        if (heads <= 0 || d % heads != 0) {
            throw new ModelException(path, "head count " + heads + " (" + source.label() + ") does not divide d_model " + d);
        }
        Gpt2Dims dims = new Gpt2Dims(vocab, d, layers, heads, dMlp, nCtx);
        for (Gpt2Layout.Entry e : Gpt2Layout.entries(dims)) {
            String name = prefix + e.name();
            if (!f.has(name)) {
                if (e.maskBuffer()) continue; // newer exports omit the causal-mask buffer; it is not a parameter
                throw new ModelException(path, "not a GPT-2 checkpoint: missing tensor " + name);
            }
            TensorInfo t = f.info(name);
            if (!Arrays.equals(t.shape(), e.shape())) {
                throw new ModelException(path, "tensor " + name + " has shape " + t.shapeString() + ", expected "
                        + Arrays.toString(e.shape()) + " for d_model " + d + ", d_mlp " + dMlp + ", n_ctx " + nCtx + ", vocab " + vocab);
            }
            if (!e.maskBuffer() && !t.dtype().readableAsFloat()) {
                throw new ModelException(path, "tensor " + name + " has dtype " + t.dtype() + "; GPT-2 weights must be F32, F16 or BF16");
            }
        }
        return new Gpt2Model(f, config, prefix, dims, source);
    }

    private static TensorInfo require(MappedCheckpoint f, String prefix, String name, int rank) {
        String full = prefix + name;
        if (!f.has(full)) throw new ModelException(f.path(), "not a GPT-2 checkpoint: missing tensor " + full);
        TensorInfo t = f.info(full);
        if (t.rank() != rank) throw new ModelException(f.path(), "tensor " + full + " has shape " + t.shapeString() + ", expected rank " + rank);
        return t;
    }

    private static int toInt(long v, Path path, TensorInfo t) {
        if (v <= 0 || v > Integer.MAX_VALUE) throw new ModelException(path, "tensor " + t.name() + " has unusable dimension " + v);
        return (int) v;
    }

    public Gpt2Dims dims() {
        return dims;
    }

    public HeadCountSource headCountSource() {
        return headCountSource;
    }

    public MappedCheckpoint file() {
        return file;
    }

    public Path path() {
        return file.path();
    }

    /** config.json beside the weights, if present. */
    public Optional<Path> config() {
        return Files.isRegularFile(configPath) ? Optional.of(configPath) : Optional.empty();
    }

    /** "" or "transformer." */
    public String prefix() {
        return prefix;
    }

    /** True when every weight is F32 and used in place. */
    public boolean zeroCopy() {
        return file.tensors().stream().filter(t -> !t.name().endsWith(".attn.bias") || t.rank() != 4)
                .allMatch(t -> t.dtype() == DType.F32);
    }

    public List<TensorInfo> tensors() {
        return file.tensors();
    }

    /** The F32 data of a layout tensor (name without prefix): the mapped bytes, or a widened copy. */
    public MemorySegment data(String layoutName) {
        TensorInfo t = file.info(prefix + layoutName);
        if (t.dtype() == DType.F32) return file.segment(t);
        return widenedTensors.computeIfAbsent(t.name(), n -> widen(t));
    }

    private MemorySegment widen(TensorInfo t) {
        MemorySegment src = file.segment(t);
        long n = t.elementCount();
        MemorySegment dst = widened.allocate(n * Float.BYTES, 64);
        for (long i = 0; i < n; i++) {
            short bits = src.getAtIndex(SafetensorsFile.I16_LE, i);
            float v = t.dtype() == DType.F16 ? Float.float16ToFloat(bits) : Float.intBitsToFloat((bits & 0xffff) << 16);
            dst.setAtIndex(SafetensorsFile.F32_LE, i, v);
        }
        return dst;
    }

    /**
     * Starts touching every page of these layout tensors on a background (daemon) thread and returns at once. A
     * mapped page costs a fault on first use (on virtual machines, microseconds each: ~0.1 s for the 80 MB a
     * {@code score} run reads); done while the process is still single-threaded (loading a backend, parsing bags),
     * the computation later finds its weights ready. Closing the model stops it.
     */
    public void prefetch(List<String> layoutNames) {
        List<MemorySegment> parts = new java.util.ArrayList<>();
        for (String n : layoutNames) {
            if (file.has(prefix + n) && file.info(prefix + n).dtype() == DType.F32) parts.add(file.segment(file.info(prefix + n)));
        }
        Thread.ofPlatform().daemon().name("headscan-prefetch").start(() -> {
            try {
                long sink = 0;
                for (MemorySegment seg : parts) {
                    for (long off = 0; off < seg.byteSize(); off += 4096) sink += seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, off);
                }
                if (sink == 42) Thread.onSpinWait();   // keeps the reads
            } catch (IllegalStateException | InternalError gone) {
                // the model was closed first, or the file shrank under the mapping: nothing left to warm (the reads
                // that matter report it)
            }
        });
    }

    /** A layout tensor as a matrix (vectors are 1 x n). */
    public Matrix matrix(String layoutName) {
        long[] s = file.info(prefix + layoutName).shape();
        int rows = s.length == 2 ? (int) s[0] : 1;
        int cols = (int) s[s.length - 1];
        return Matrix.dense(data(layoutName), rows, cols);
    }

    /** A layout vector copied to the heap (d or d_mlp floats). */
    public float[] vector(String layoutName) {
        return matrix(layoutName).toArray();
    }

    /** Token embedding E [V, d] (also the tied unembedding). */
    public Matrix wte() {
        return matrix(Gpt2Layout.WTE);
    }

    public Matrix wpe() {
        return matrix(Gpt2Layout.WPE);
    }

    /** c_attn weight [d, 3d], stored [in, out]: columns Q | K | V. */
    public Matrix cAttn(int layer) {
        checkLayer(layer);
        return matrix(Gpt2Layout.cAttnWeight(layer));
    }

    /** attn.c_proj weight [d, d]; rows h·d_h..(h+1)·d_h belong to head h. */
    public Matrix attnProj(int layer) {
        checkLayer(layer);
        return matrix(Gpt2Layout.attnProjWeight(layer));
    }

    /** W_Q of a head: [d, d_h] strided view into c_attn (ld = 3d). */
    public Matrix wq(HeadId h) {
        return qkvBlock(h, 0);
    }

    /** W_K of a head: [d, d_h] strided view into c_attn (ld = 3d). */
    public Matrix wk(HeadId h) {
        return qkvBlock(h, 1);
    }

    /** W_V of a head: [d, d_h] strided view into c_attn (ld = 3d). */
    public Matrix wv(HeadId h) {
        return qkvBlock(h, 2);
    }

    /** W_O of a head: [d_h, d] row block of attn.c_proj. */
    public Matrix wo(HeadId h) {
        h.checkIn(dims);
        int dh = dims.dHead();
        return attnProj(h.layer()).rows(h.head() * dh, dh);
    }

    /** Q, K or V columns of all heads of a layer: [d, d] strided view (ld = 3d), heads side by side. */
    public Matrix qkvThird(int layer, int third) {
        int d = dims.dModel();
        return cAttn(layer).block(0, third * d, d, d);
    }

    private Matrix qkvBlock(HeadId h, int third) {
        h.checkIn(dims);
        int d = dims.dModel();
        int dh = dims.dHead();
        return cAttn(h.layer()).block(0, third * d + h.head() * dh, d, dh);
    }

    private void checkLayer(int layer) {
        if (layer < 0 || layer >= dims.layers()) {
            throw new IllegalArgumentException("layer " + layer + " out of range 0.." + (dims.layers() - 1));
        }
    }

    @Override
    public synchronized void close() {
        if (file.isOpen()) {
            file.close();
            widened.close();
        }
    }
}
