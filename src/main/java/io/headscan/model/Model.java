package io.headscan.model;

import io.headscan.format.CheckpointFormatException;
import io.headscan.format.CheckpointRefusedException;
import io.headscan.format.DType;
import io.headscan.format.MappedCheckpoint;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.TensorInfo;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A decoder-only checkpoint of any {@link Family} seen through its memory-mapped weights (a safetensors file, a PyTorch
 * {@code pytorch_model.bin} or a set of shards, all read through {@link MappedCheckpoint}), as the canonical per-head
 * views of docs/science.md §9: W_Q, W_K, W_V [d, d_h] and W_O [d_h, d] of each head, the norm weights, layer 0's MLP,
 * the embedding, the unembedding and the attention scale of each layer. What differs between families is the family's
 * table row; nothing here or above asks for a family by name.
 *
 * <p>Views are zero-copy: GPT-2's head blocks are column blocks of {@code c_attn}, a Linear [out, in] block is handed on
 * with its transpose flag ({@link Weight}), and GPT-NeoX's interleaved heads are row blocks of the fused tensor.
 * F32 checkpoints are used in place; F16/BF16 tensors are widened into off-heap F32 copies owned by this object, a
 * layer at a time ({@link #data}, {@link #zeroCopy()}). Every dimension comes from tensor shapes; the head count from {@code config.json}, else an
 * explicit override, else d_head = 64, and {@link #headCountSource()} says which.
 */
public final class Model implements AutoCloseable {

    /** Where the number of heads came from. */
    public enum HeadCountSource {
        CONFIG("config.json"), OVERRIDE("--n-head"), DEFAULT_D_HEAD_64("default d_head = 64");

        private final String label;

        HeadCountSource(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /** What a projection of a layer computes for all its heads: Q, K or V. */
    public enum Kind { Q, K, V }

    /**
     * The columns of {@code x @ weight} that belong to each head: head h's d_h columns start at {@code base + h·stride}.
     * GPT-2: the Q, K or V third of {@code c_attn}, stride d_h. GPT-NeoX: the whole fused [3d, d] weight (transposed),
     * base {q,k,v}·d_h, stride 3·d_h. Separate projections: the one weight, stride d_h.
     */
    public record HeadColumns(Weight weight, int base, int stride) {

        /** Whether head h's block starts at base + h·dHead (the heads side by side, nothing between). */
        public boolean packed(int dHead) {
            return stride == dHead;
        }
    }

    private final MappedCheckpoint file;
    private final Path configPath;
    private final Family family;
    private final String prefix;
    private final Dims dims;
    private final HeadCountSource headCountSource;
    private final double eps;
    private final Activation activation;
    private final boolean parallel;
    private final double[] scales;
    private final List<String> notes;
    private final String headsSource;
    private final boolean tied;
    private final double attnSoftcap;
    private final boolean centredUnembed;
    private final Arena widened = Arena.ofShared();
    /** Norm weights that are not a tensor as stored (Gemma's 1 + w, OLMo's parameter-free 1), made once each. */
    private final Map<String, MemorySegment> effectiveNorms = new ConcurrentHashMap<>();
    /**
     * Per tensor, its widened copy while it lives: made outside the map's locks, once, by the first thread that asks.
     * A layer's tensors live until a tensor of another layer is widened (see {@link #data}); whole-model tensors (the
     * embedding, the unembedding, the final norm) live as long as the model.
     */
    private final Map<String, Widened> widenedTensors = new ConcurrentHashMap<>();
    /** Every per-layer tensor's layer (full names), made on first use. */
    private volatile Map<String, Integer> layerOfTensor;
    /** The layer whose widened tensors are alive, or −1. */
    private int widenedLayer = -1;
    private final java.util.concurrent.atomic.AtomicLong widenedBytes = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong widenedPeak = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong widenings = new java.util.concurrent.atomic.AtomicLong();

    private final class Widened {
        private final Arena arena = Arena.ofShared();
        private MemorySegment data;
        private boolean freed;

        synchronized MemorySegment get(TensorInfo t) {
            if (freed) return null;
            if (data == null) {
                data = widen(t, arena);
                long now = widenedBytes.addAndGet(data.byteSize());
                widenedPeak.accumulateAndGet(now, Math::max);
                widenings.incrementAndGet();
            }
            return data;
        }

        synchronized boolean done() {
            return data != null;
        }

        /** Frees the copy; false (and nothing changed) while a native call still holds it. */
        synchronized boolean free() {
            if (freed) return true;
            try {
                arena.close();
            } catch (IllegalStateException held) {
                return false;
            }
            freed = true;
            if (data != null) widenedBytes.addAndGet(-data.byteSize());
            return true;
        }
    }

    private Model(MappedCheckpoint file, Path configPath, Family family, String prefix, Dims dims, HeadCountSource source,
                  double eps, Activation activation, boolean parallel, double[] scales, List<String> notes, String headsKey,
                  boolean tied, double attnSoftcap, boolean centredUnembed) {
        this.tied = tied;
        this.attnSoftcap = attnSoftcap;
        this.centredUnembed = centredUnembed;
        this.file = file;
        this.configPath = configPath;
        this.family = family;
        this.prefix = prefix;
        this.dims = dims;
        this.headCountSource = source;
        this.eps = eps;
        this.activation = activation;
        this.parallel = parallel;
        this.scales = scales;
        this.notes = notes;
        this.headsSource = source == HeadCountSource.CONFIG ? "config.json " + headsKey : source.label();
    }

    /**
     * Opens a checkpoint: a weights file ({@code .safetensors}, {@code pytorch_model.bin}, a shard index) or a folder
     * holding one (see {@link #resolveWeights}).
     *
     * @param headsOverride explicit head count, used when there is no config.json
     */
    public static Model open(Path fileOrDir, OptionalInt headsOverride) {
        Path weights = resolveWeights(fileOrDir);
        MappedCheckpoint f = MappedCheckpoint.open(weights);
        try {
            return build(f, headsOverride);
        } catch (RuntimeException | Error e) {
            f.close();
            throw e;
        }
    }

    public static Model open(Path fileOrDir) {
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

    private static Model build(MappedCheckpoint f, OptionalInt headsOverride) {
        Path path = f.path();
        Path configFile = path.resolveSibling("config.json");
        Optional<ModelConfig> cfg = CheckpointRefusedException.whileOpening(configFile,
                CheckpointFormatException.Container.CONFIG_JSON, () -> ModelConfig.read(configFile));
        Family family = family(f, cfg);
        ModelConfig c = cfg.orElse(null);
        Family.Keys keys = family.keys();
        if (c != null) refusals(c, family);   // before any shape: a model headscan does not compute is named as such
        String prefix = family.prefixes().stream().filter(p -> f.has(p + family.embed())).findFirst().orElse(null);
        if (prefix == null) throw missing(path, family, family.prefix() + family.embed());
        Shapes s = new Shapes(f, family, prefix, family.tied());   // the unembedding is checked later, tied or not known here
        TensorInfo embed = s.require(family.embed(), 2);
        int vocab = s.dim(embed, 0), d = s.dim(embed, 1);
        int layers = layerCount(f, prefix, family);
        if (layers == 0) throw missing(path, family, prefix + Family.at(family.q(), 0));
        Family.More more = family.more();
        boolean tied = family.tied();
        if (more.tiedByConfig()) {
            tied = c != null ? c.bool(keys.tied()).orElse(false) : !f.has(family.unembed());
            if (c != null && !c.has(keys.tied()) && !f.has(family.unembed()) && f.has(prefix + family.embed())) {
                throw missing(path, family, family.unembed() + " (config.json does not set " + keys.tied() + ", which is false by default)");
            }
        }
        TensorInfo mlpIn = s.require(Family.at(family.mlpIn(), 0), 2);
        int dMlp = s.dim(mlpIn, family.mlpLinear() ? 0 : 1);
        int nCtx = 0;
        if (family.positions() != null && f.has(prefix + family.positions())) nCtx = s.dim(s.require(family.positions(), 2), 0);

        List<String> notes = new ArrayList<>();
        if (c != null) {
            agree(c, keys.dModel(), d, "d_model (" + prefix + family.embed() + ")");
            agree(c, keys.layers(), layers, "layer count");
            agree(c, keys.vocab(), vocab, "vocabulary size (" + prefix + family.embed() + ")");
            if (nCtx > 0) agree(c, keys.positions(), nCtx, "position count (" + prefix + family.positions() + ")");
            else nCtx = c.dimension(keys.positions()).orElse(0);
            String mlpKey = keys.dMlp().getFirst();
            if (keys.dMlpNullIs4d() && c.has(mlpKey) && c.isNull(mlpKey)) {
                if (dMlp != 4 * d) throw c.contradiction(mlpKey + " is null (4 x d_model = " + 4 * d + "), the weights' d_mlp ("
                        + prefix + Family.at(family.mlpIn(), 0) + ") is " + dMlp);
            } else {
                agree(c, keys.dMlp(), dMlp, "d_mlp (" + prefix + Family.at(family.mlpIn(), 0) + ")");
            }
        }

        OptionalInt fromConfig = c == null ? OptionalInt.empty() : c.dimension(keys.heads());
        HeadCountSource source;
        int heads;
        if (fromConfig.isPresent()) {
            heads = fromConfig.getAsInt();
            source = HeadCountSource.CONFIG;
            if (headsOverride.isPresent() && headsOverride.getAsInt() != heads) {
                throw new ModelException(configFile, keys.heads().getFirst() + " " + heads + " contradicts --n-head " + headsOverride.getAsInt()
                        + " (--n-head is for checkpoints without a head count in config.json)");
            }
        } else if (headsOverride.isPresent()) {
            heads = headsOverride.getAsInt();
            source = HeadCountSource.OVERRIDE;
        } else {
            String why = c != null ? "config.json has no " + keys.heads().getFirst() : "no config.json";
            // d_head 64 holds for every GPT-2 size; the other families vary it (Pythia-1b: 256), and with a fused
            // layout a wrong head count would read K and V rows as Q
            if (family != Family.GPT2) {
                throw new ModelException(path, "cannot infer the head count of a " + family.label() + " checkpoint: " + why
                        + " (its head width varies by size); pass the head count explicitly");
            }
            if (d % 64 != 0) throw new ModelException(path, "cannot infer the head count: " + why + " and d_model " + d + " is not a multiple of 64; pass the head count explicitly");
            heads = d / 64;
            source = HeadCountSource.DEFAULT_D_HEAD_64;
        }
        int kvHeads = heads, dHead;
        OptionalInt headDim = c == null || more.headDim() == null ? OptionalInt.empty() : c.optionalDimension(List.of(more.headDim()));
        if (headDim.isEmpty() && c != null && more.headDim() != null && !c.has(more.headDim()) && more.defaults().containsKey(more.headDim())) {
            headDim = OptionalInt.of(more.defaults().get(more.headDim()).intValue());
        }
        if (heads <= 0 || (headDim.isEmpty() && d % heads != 0)) {
            if (source == HeadCountSource.CONFIG) throw c.contradiction(keys.heads().getFirst() + " is " + heads + ", which does not divide the weights' d_model " + d);
            throw new ModelException(path, "head count " + heads + " (" + source.label() + ") does not divide d_model " + d);
        }
        dHead = headDim.orElse(d / heads);
        if (c != null && !more.kvHeads().isEmpty()) {
            OptionalInt kv = c.optionalDimension(more.kvHeads());
            if (kv.isPresent()) {
                kvHeads = kv.getAsInt();
                if (kvHeads <= 0 || heads % kvHeads != 0) {
                    throw c.contradiction(more.kvHeads().getFirst() + " is " + kvHeads + ", which does not divide " + keys.heads().getFirst() + " " + heads);
                }
            }
        }
        if (family.qkv() != Family.Qkv.SEPARATE && (kvHeads != heads || (long) heads * dHead != d)) {
            throw new ModelException(path, family.label() + " stores Q, K and V fused: grouped-query attention or head_dim other than d_model / heads is not read");
        }
        Dims dims = new Dims(vocab, d, layers, heads, dMlp, nCtx, kvHeads, dHead);

        double eps = more.defaultEps();
        Activation act = keys.defaultActivation();
        boolean parallel = family.parallel();
        boolean scaleWeights = true, inverseLayer = false;
        if (c != null) {
            eps = c.positive(keys.eps()).orElse(eps);
            Optional<String> a = c.string(keys.activation());
            if (a.isPresent()) {
                act = more.activationAliases().containsKey(a.get()) ? more.activationAliases().get(a.get()) : Activation.byConfigName(a.get());
                if (act == null) {
                    String key = keys.activation().stream().filter(c::has).findFirst().orElseThrow();
                    throw c.unsupported(key, "headscan computes the MLP with gelu_new (gelu_pytorch_tanh, gelu_fast), gelu, relu or silu");
                }
            }
            if (keys.parallel() != null) parallel = c.bool(keys.parallel()).orElse(parallel);
            if (keys.scaleWeights() != null) scaleWeights = c.bool(keys.scaleWeights()).orElse(true);
            if (keys.inverseLayer() != null) inverseLayer = c.bool(keys.inverseLayer()).orElse(false);
        }
        double[] scales = new double[layers];
        double base = family.attentionScale() == Family.BaseScale.ONE || !scaleWeights ? 1 : 1 / Math.sqrt(dims.dHead());
        if (more.queryPreAttnScalar() != null) {
            double scalar = positiveOrDefault(c, more, more.queryPreAttnScalar(), false);
            base = 1 / Math.sqrt(scalar);
            if (base != 1 / Math.sqrt(dims.dHead())) notes.add(String.format(java.util.Locale.ROOT, "attention scale query_pre_attn_scalar^(-1/2) = %.6g", base));
        }
        for (int l = 0; l < layers; l++) scales[l] = inverseLayer ? base / (l + 1) : base;
        double attnCap = more.attnSoftcap() == null ? 0 : positiveOrDefault(c, more, more.attnSoftcap(), true);
        if (attnCap > 0) notes.add(String.format(java.util.Locale.ROOT, "attention logits soft-capped: %.6g * tanh(S / %.6g)", attnCap, attnCap));
        double finalCap = more.finalSoftcap() == null ? 0 : positiveOrDefault(c, more, more.finalSoftcap(), true);
        if (finalCap > 0) notes.add("U not centred over the vocabulary: the final logits are soft-capped (final_logit_softcapping), as TransformerLens does");
        if (more.embedScaled()) notes.add("embedding x sqrt(d_model) on the input side");
        if (c != null) {
            for (var e : more.notApplied().entrySet()) {
                if (c.has(e.getKey()) && !c.isNull(e.getKey())) notes.add(e.getValue() + ": " + e.getKey() + " " + c.shown(e.getKey()));
            }
        }
        if (family.attentionScale() == Family.BaseScale.ONE) notes.add("no attention scaling (" + family.label() + ")");
        if (!scaleWeights) notes.add("scale_attn_weights false: no 1/sqrt(d_head)");
        if (inverseLayer) notes.add("scale_attn_by_inverse_layer_idx: layer l's logits divided by l + 1");

        new Shapes(f, family, prefix, tied).checkLayers(dims);
        String headsKey = c == null ? null : keys.heads().stream().filter(c::has).findFirst().orElse(null);
        return new Model(f, configFile, family, prefix, dims, source, eps, act, parallel, scales, List.copyOf(notes), headsKey,
                tied, attnCap, finalCap == 0);
    }

    /**
     * A positive number from config.json, or transformers' default for the key when it is not written; with
     * {@code nullMeansNone}, an explicit null gives 0 (no soft-capping).
     */
    private static double positiveOrDefault(ModelConfig c, Family.More more, String key, boolean nullMeansNone) {
        if (c != null && c.has(key)) {
            if (c.isNull(key)) {
                if (nullMeansNone) return 0;
                throw c.unsupported(key, "is null; it must be a positive number");
            }
            double v = c.positive(List.of(key)).orElseThrow();
            // used in float arithmetic (c·tanh(S / c), 1/sqrt(s)): outside the normal floats it would give inf or NaN
            if (v < Float.MIN_NORMAL || v > Float.MAX_VALUE) throw c.unsupported(key, "is " + c.shown(key) + ", outside the range of a float32");
            return v;
        }
        return more.defaults().getOrDefault(key, 0.0);
    }

    /**
     * One more than the highest layer index any tensor of the family's layers carries (so a layer whose tensors are
     * missing is named as missing by the shape checks, not taken for the end of the model).
     */
    private static int layerCount(MappedCheckpoint f, String prefix, Family family) {
        String pattern = family.q();
        String head = prefix + pattern.substring(0, pattern.indexOf("{L}"));
        int max = -1;
        for (TensorInfo t : f.tensors()) {
            String n = t.name();
            if (!n.startsWith(head)) continue;
            int end = n.indexOf('.', head.length());
            if (end <= head.length() || end - head.length() > 6) continue;   // not a layer index, or over 999,999
            String digits = n.substring(head.length(), end);
            if (!digits.chars().allMatch(ch -> ch >= '0' && ch <= '9')) continue;
            max = Math.max(max, Integer.parseInt(digits));
        }
        return max + 1;
    }

    /** Config values that give a model headscan has no definition for, each refused by its key. */
    private static void refusals(ModelConfig c, Family family) {
        for (var e : family.refusedUnless().entrySet()) {
            if (c.has(e.getKey()) && !String.valueOf(e.getValue()).equals(c.shown(e.getKey()))) {
                throw c.unsupported(e.getKey(), family.label() + " models with " + e.getKey() + " other than " + e.getValue()
                        + " have no definition in headscan");
            }
        }
        for (var e : family.equalKeys().entrySet()) {
            Family.Equal eq = e.getValue();
            OptionalInt v = c.dimension(List.of(e.getKey())), other = c.dimension(List.of(eq.otherKey()));
            if (v.isPresent() && other.isPresent() && v.getAsInt() != other.getAsInt()) {
                throw c.unsupported(e.getKey(), "differs from " + eq.otherKey() + " (" + other.getAsInt() + "): " + eq.otherwise()
                        + ", which has no definition in headscan");
            }
        }
        Family.Keys keys = family.keys();
        if (keys.tied() != null && !family.more().tiedByConfig()) {
            Optional<Boolean> tied = c.bool(keys.tied());
            if (tied.isPresent() && tied.get() != family.tied()) {
                throw c.unsupported(keys.tied(), family.label() + " is read with its " + (family.tied() ? "tied" : "untied")
                        + " unembedding only");
            }
        }
    }

    /** The family a checkpoint declares (config.json's model_type), or the one whose tensors it holds. */
    private static Family family(MappedCheckpoint f, Optional<ModelConfig> cfg) {
        if (cfg.isPresent()) {
            ModelConfig c = cfg.get();
            Optional<String> type = c.string(List.of("model_type"));
            if (type.isPresent()) {
                Optional<Family> fam = Family.byModelType(type.get());
                if (fam.isPresent()) return fam.get();
                Optional<String> why = Family.refusal(type.get());
                throw c.unsupported("model_type", why.orElse("not a model family headscan reads (" + Family.readTypes() + ")"));
            }
        }
        for (Family fam : Family.ALL) {
            if (fam.ln1Weight() == null) continue;   // nothing tells it apart without its config
            String w = Family.at(fam.ln1Weight(), 0), q = Family.at(fam.q(), 0);
            if (fam.prefixes().stream().noneMatch(p -> f.has(p + w) && f.has(p + q))) continue;
            if (fam.more() != Family.More.LAYER_NORM) {
                // Llama, Mistral, Qwen2, Gemma and Gemma-2 store the same names and compute differently (Gemma's norms
                // act as 1 + w, its embedding is scaled): only the config says which
                throw new ModelException(f.path(), "a Llama-layout checkpoint without config.json: Llama, Mistral, Qwen2, Gemma and Gemma-2 "
                        + "store these tensor names but compute differently; put its config.json beside the weights");
            }
            return fam;
        }
        throw new ModelException(f.path(), "not a checkpoint of a family headscan reads (" + Family.readTypes()
                + "): none of their layer-0 tensors is there, and no config.json names a model_type");
    }

    private static ModelException missing(Path path, Family family, String tensor) {
        return new ModelException(path, "not a " + family.label() + " checkpoint: missing tensor " + tensor);
    }

    private static void agree(ModelConfig c, List<String> keys, int actual, String what) {
        OptionalInt v = c.dimension(keys);
        if (v.isPresent() && v.getAsInt() != actual) {
            String key = keys.stream().filter(c::has).findFirst().orElse(keys.getFirst());
            throw c.contradiction(key + " is " + v.getAsInt() + ", the weights' " + what + " is " + actual);
        }
    }

    /** Shape checks of a family's tensors, each refusal naming the tensor. */
    private record Shapes(MappedCheckpoint f, Family family, String prefix, boolean tied) {

        TensorInfo require(String name, int rank) {
            String full = prefix + name;
            if (!f.has(full)) throw missing(f.path(), family, full);
            TensorInfo t = f.info(full);
            if (t.rank() != rank) throw new ModelException(f.path(), "tensor " + full + " has shape " + t.shapeString() + ", expected rank " + rank);
            if (!t.dtype().readableAsFloat()) {
                throw new ModelException(f.path(), "tensor " + full + " has dtype " + t.dtype() + "; weights must be F32, F16 or BF16");
            }
            return t;
        }

        int dim(TensorInfo t, int i) {
            long v = t.dim(i);
            if (v <= 0 || v > Integer.MAX_VALUE) throw new ModelException(f.path(), "tensor " + t.name() + " has unusable dimension " + v);
            return (int) v;
        }

        void expect(String pattern, int layer, long... shape) {
            if (pattern == null) return;
            String name = layer < 0 ? pattern : Family.at(pattern, layer);
            boolean whole = name.equals(family.unembed()) || name.equals(family.unembedBias());
            TensorInfo t = whole ? requireWhole(name, shape.length) : require(name, shape.length);
            if (!Arrays.equals(t.shape(), shape)) {
                throw new ModelException(f.path(), "tensor " + t.name() + " has shape " + t.shapeString() + ", expected " + Arrays.toString(shape));
            }
        }

        TensorInfo requireWhole(String name, int rank) {
            if (!f.has(name)) throw missing(f.path(), family, name);
            TensorInfo t = f.info(name);
            if (t.rank() != rank || !t.dtype().readableAsFloat()) {
                throw new ModelException(f.path(), "tensor " + name + " has shape " + t.shapeString() + " and dtype " + t.dtype()
                        + ", expected a rank-" + rank + " F32, F16 or BF16 tensor");
            }
            return t;
        }

        /** Every tensor the science reads, at the shape the dimensions give. */
        void checkLayers(Dims dims) {
            long d = dims.dModel(), m = dims.dMlp(), v = dims.vocab();
            expect(family.finalNormWeight(), -1, d);
            expect(family.finalNormBias(), -1, d);
            if (!tied) expect(family.unembed(), -1, v, d);
            expect(family.unembedBias(), -1, v);
            long hq = dims.qWidth(), hkv = dims.kvWidth();
            Family.More more = family.more();
            for (int l = 0; l < dims.layers(); l++) {
                expect(family.ln1Weight(), l, d);
                expect(family.ln1Bias(), l, d);
                expect(family.ln2Weight(), l, d);
                expect(family.ln2Bias(), l, d);
                switch (family.qkv()) {
                    case FUSED_THIRDS -> expect(family.q(), l, d, 3 * d);
                    case FUSED_BY_HEAD -> expect(family.q(), l, 3 * d, d);
                    case SEPARATE -> {
                        expect(family.q(), l, hq, d);
                        expect(family.k(), l, hkv, d);
                        expect(family.v(), l, hkv, d);
                    }
                }
                expect(family.o(), l, family.oLinear() ? new long[] {d, hq} : new long[] {hq, d});
                expect(more.mlpGate(), l, family.mlpLinear() ? new long[] {m, d} : new long[] {d, m});
                expect(more.postAttentionNorm(), l, d);
                expect(more.postMlpNorm(), l, d);
                expect(family.mlpIn(), l, family.mlpLinear() ? new long[] {m, d} : new long[] {d, m});
                expect(family.mlpInBias(), l, m);
                expect(family.mlpOut(), l, family.mlpLinear() ? new long[] {d, m} : new long[] {m, d});
                expect(family.mlpOutBias(), l, d);
            }
        }
    }

    public Family family() {
        return family;
    }

    public Dims dims() {
        return dims;
    }

    public HeadCountSource headCountSource() {
        return headCountSource;
    }

    /** Where the head count came from, in words: "config.json n_head", "--n-head", "default d_head = 64". */
    public String headsSource() {
        return headsSource;
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

    /** The prefix this file's base-model tensors carry ("" when saved without it). */
    public String prefix() {
        return prefix;
    }

    /** LayerNorm epsilon. */
    public double eps() {
        return eps;
    }

    /** Layer 0's MLP activation. */
    public Activation activation() {
        return activation;
    }

    /** Whether the block is parallel: the MLP reads the block's input, not input + attention (docs/science.md §9). */
    public boolean parallel() {
        return parallel;
    }

    /** Layer l's attention scale: the logit is {@code scale · q·k} (docs/science.md §8, §9). */
    public double attentionScale(int layer) {
        checkLayer(layer);
        return scales[layer];
    }

    /** Whether every layer has the plain 1/sqrt(d_head). */
    public boolean plainScale() {
        double plain = 1 / Math.sqrt(dims.dHead());
        return Arrays.stream(scales).allMatch(s -> s == plain);
    }

    /** What reports should say about this model's definition beyond its family (scales, flags). */
    public List<String> notes() {
        return notes;
    }

    /**
     * One line for reports when this model is not plain GPT-2: the family and block, "rotary: relative offset 0", and
     * the notes (scales that differ from 1/√d_h); empty for plain GPT-2.
     */
    public Optional<String> definitionLine() {
        List<String> parts = new ArrayList<>();
        if (family != Family.GPT2) parts.add(family.label() + (parallel ? " (parallel block)" : ""));
        if (family.more() != Family.More.LAYER_NORM) {
            parts.add(family.more().norm().label() + (family.gated() ? ", gated MLP (" + activation.configName() + ")" : ""));
        }
        if (dims.grouped()) parts.add("grouped-query attention: " + dims.heads() + " query heads, " + dims.kvHeads() + " key/value heads");
        if (rotary()) parts.add("rotary: relative offset 0");
        parts.addAll(notes);
        return parts.isEmpty() ? Optional.empty() : Optional.of("model: " + String.join("; ", parts));
    }

    /** Whether positions enter through rotary embeddings (scored at relative offset 0: docs/science.md §9). */
    public boolean rotary() {
        return family.rotary();
    }

    /** True when every weight is F32 and used in place. */
    public boolean zeroCopy() {
        return file.tensors().stream().filter(t -> !buffer(t)).allMatch(t -> t.dtype() == DType.F32);
    }

    /** Whether a tensor is one of the family's buffers (masks, rotary frequencies), not a parameter. */
    public boolean buffer(TensorInfo t) {
        if (!t.dtype().readableAsFloat() || t.rank() == 0) return true;
        for (String b : family.buffers()) if (t.name().endsWith(b)) return true;
        return false;
    }

    /** Parameters in the file (buffers excluded; a tied unembedding stored twice counted once). */
    public long parameterCount() {
        long n = 0;
        for (TensorInfo t : file.tensors()) {
            if (buffer(t) || (tied && t.name().equals("lm_head.weight"))) continue;
            n += t.elementCount();
        }
        return n;
    }

    public List<TensorInfo> tensors() {
        return file.tensors();
    }

    /**
     * The F32 data of a tensor (its full name): the mapped bytes, or a widened copy.
     *
     * <p>Half-precision weights are widened a layer at a time: asking for a tensor of layer l frees the widened copies
     * of every other layer's tensors, so a command's off-heap memory is one layer's working set (plus the whole-model
     * tables it asks for), not the model's size. A caller finishes with a layer's views before it asks for another
     * layer's; a view of a freed copy fails on its next use ({@link IllegalStateException}), it is never read after
     * its memory is gone. Going back to a layer widens it again. Threads may share one layer's copies; a Model is not
     * meant to be worked on at two layers at once (the one that moves on frees what the other reads, which then fails).
     */
    public MemorySegment data(String tensor) {
        TensorInfo t = file.info(tensor);
        if (t.dtype() == DType.F32) return file.segment(t);
        Integer layer = layerOf(t.name());
        if (layer != null) enterLayer(layer);
        while (true) {
            Widened w = widenedTensors.computeIfAbsent(t.name(), n -> new Widened());
            MemorySegment data = w.get(t);
            if (data != null) return data;
            widenedTensors.remove(t.name(), w);   // another thread moved to another layer in between: widen afresh
        }
    }

    /** Frees the widened copies of every layer but {@code layer}. */
    private synchronized void enterLayer(int layer) {
        if (widenedLayer == layer) return;
        Map<String, Integer> layers = layerOfTensor;
        for (var e : widenedTensors.entrySet()) {
            Integer l = layers.get(e.getKey());
            // a copy a native call still holds stays (and is freed with the next layer change, or with the model)
            if (l != null && l != layer && e.getValue().free()) widenedTensors.remove(e.getKey(), e.getValue());
        }
        widenedLayer = layer;
    }

    /** The layer a tensor (full name) belongs to, or null for a whole-model tensor. */
    private Integer layerOf(String tensor) {
        Map<String, Integer> m = layerOfTensor;
        if (m == null) {
            Map<String, Integer> built = new java.util.HashMap<>();
            Set<String> whole = new java.util.HashSet<>();
            for (Role r : List.of(Role.EMBED, Role.UNEMBED, Role.UNEMBED_BIAS, Role.FINAL_NORM_WEIGHT, Role.FINAL_NORM_BIAS)) whole.add(name(r, 0));
            for (int l = 0; l < dims.layers(); l++) {
                for (Role r : Role.values()) {
                    String n = name(r, l);
                    if (n != null && !whole.contains(n)) built.putIfAbsent(n, l);
                }
            }
            layerOfTensor = m = Map.copyOf(built);
        }
        return m.get(tensor);
    }

    /** Off-heap bytes of widened copies alive now. */
    public long widenedBytes() {
        return widenedBytes.get();
    }

    /** The most off-heap bytes of widened copies alive at once since the model was opened. */
    public long widenedPeakBytes() {
        return widenedPeak.get();
    }

    /** How many tensors have been widened (a layer revisited counts again). */
    public long widenings() {
        return widenings.get();
    }

    private MemorySegment widen(TensorInfo t, Arena arena) {
        long n = t.elementCount();
        MemorySegment dst = io.headscan.OffHeap.allocate(arena, n * Float.BYTES);   // huge pages: 4 KiB faults cost more than the widening
        io.headscan.format.HalfFloats.widenAll(file.segment(t), dst, n, t.dtype() == DType.F16);
        return dst;
    }

    /** A tensor (full name) as a matrix (vectors are 1 x n). */
    public Matrix matrix(String tensor) {
        long[] s = file.info(tensor).shape();
        int rows = s.length == 2 ? (int) s[0] : 1;
        int cols = (int) s[s.length - 1];
        return Matrix.dense(data(tensor), rows, cols);
    }

    /** A tensor (full name) copied to the heap. */
    public float[] vector(String tensor) {
        return matrix(tensor).toArray();
    }

    /** What a tensor is for: the names {@link #name} resolves. */
    public enum Role {
        EMBED, UNEMBED, UNEMBED_BIAS, FINAL_NORM_WEIGHT, FINAL_NORM_BIAS, LN1_WEIGHT, LN1_BIAS, LN2_WEIGHT, LN2_BIAS,
        Q, K, V, O, MLP_IN, MLP_IN_BIAS, MLP_OUT, MLP_OUT_BIAS, MLP_GATE, POST_ATTENTION_NORM, POST_MLP_NORM
    }

    /**
     * The full name of the tensor playing {@code role} in layer {@code layer} (ignored for whole-model roles), or null
     * when the family has none (an untied bias it lacks, a norm without parameters). Fused layouts give the fused
     * tensor for Q, K and V; a block with one norm gives it for both; a tied unembedding is the embedding.
     */
    public String name(Role role, int layer) {
        Family.More more = family.more();
        boolean oneNorm = family.ln2Weight() == null && more.norm() != Family.NormKind.LAYER_NORM_NO_PARAMETERS;
        return switch (role) {
            case EMBED -> at(family.embed(), layer);
            case UNEMBED -> tied ? at(family.embed(), layer) : family.unembed();
            case UNEMBED_BIAS -> family.unembedBias();
            case FINAL_NORM_WEIGHT -> at(family.finalNormWeight(), layer);
            case FINAL_NORM_BIAS -> at(family.finalNormBias(), layer);
            case LN1_WEIGHT -> at(family.ln1Weight(), layer);
            case LN1_BIAS -> at(family.ln1Bias(), layer);
            case LN2_WEIGHT -> at(oneNorm ? family.ln1Weight() : family.ln2Weight(), layer);
            case LN2_BIAS -> at(oneNorm ? family.ln1Bias() : family.ln2Bias(), layer);
            case Q -> at(family.q(), layer);
            case K -> at(family.qkv() == Family.Qkv.SEPARATE ? family.k() : family.q(), layer);
            case V -> at(family.qkv() == Family.Qkv.SEPARATE ? family.v() : family.q(), layer);
            case O -> at(family.o(), layer);
            case MLP_IN -> at(family.mlpIn(), layer);
            case MLP_IN_BIAS -> at(family.mlpInBias(), layer);
            case MLP_OUT -> at(family.mlpOut(), layer);
            case MLP_OUT_BIAS -> at(family.mlpOutBias(), layer);
            case MLP_GATE -> at(more.mlpGate(), layer);
            case POST_ATTENTION_NORM -> at(more.postAttentionNorm(), layer);
            case POST_MLP_NORM -> at(more.postMlpNorm(), layer);
        };
    }

    /** A pattern of the base model at a layer, with this file's prefix; null for none. */
    private String at(String pattern, int layer) {
        return pattern == null ? null : prefix + Family.at(pattern, layer);
    }

    /** The roles a tensor plays in layer {@code layer} (several when fused, tied or shared). */
    public Set<Role> roles(String tensor, int layer) {
        Set<Role> out = new LinkedHashSet<>();
        for (Role r : Role.values()) if (tensor.equals(name(r, layer))) out.add(r);
        return out;
    }

    /** Token embedding E [V, d] (the residual stream's input; also the unembedding when tied). */
    public Matrix embedding() {
        return matrix(name(Role.EMBED, 0));
    }

    /** The unembedding's rows [V, d]: row t is token t's output direction, before the final norm's weight is folded in. */
    public Matrix unembedding() {
        return matrix(name(Role.UNEMBED, 0));
    }

    /**
     * The rows of a [V, d] table (the embedding or the unembedding) that some tokens need, ready for a gather:
     * {@code matrix} row {@code index[a]} is the table's row {@code tokens[a]}.
     * @param matrix the whole table when it is used in place (F32, or already widened); otherwise an F32 copy of
     *               just those rows, so that the tokens of an F16/BF16 vocabulary never widen all of it (callers that
     *               need every row take them a chunk at a time: {@link #tableInPlace})
     * @param index  {@code tokens} itself, or 0 .. n − 1 for the copy
     */
    public record TokenRows(Matrix matrix, int[] index) {}

    /** The rows of the table {@code role} (EMBED or UNEMBED) that {@code tokens} need; a copy lives in {@code arena}. */
    public TokenRows tokenRows(Role role, int[] tokens, Arena arena) {
        if (role != Role.EMBED && role != Role.UNEMBED) throw new IllegalArgumentException(role + " is not a token table");
        String tensor = name(role, 0);
        TensorInfo t = file.info(tensor);
        long rows = t.shape()[0], cols = t.shape()[1];
        if (tableInPlace(role)) return new TokenRows(matrix(tensor), tokens);
        MemorySegment src = file.segment(t);
        boolean f16 = t.dtype() == DType.F16;
        Matrix copy = Matrix.allocate(arena, tokens.length, (int) cols);
        short[] bits = new short[(int) cols];
        float[] out = new float[(int) cols];
        for (int a = 0; a < tokens.length; a++) {
            int r = tokens[a];
            if (r < 0 || r >= rows) throw new IndexOutOfBoundsException("token " + r + " outside [0, " + rows + ") of " + tensor);
            io.headscan.format.HalfFloats.widen(src, (long) r * cols, copy.segment(), (long) a * cols, (int) cols, f16, bits, out);
        }
        return new TokenRows(copy, java.util.stream.IntStream.range(0, tokens.length).toArray());
    }

    /**
     * Rows r0 .. r0 + dst.rows() − 1 of the table {@code role} (EMBED or UNEMBED) as F32 into {@code dst} (dense, d
     * columns): widened from F16/BF16, or copied; rows split across the cores, so {@code dst} must be in a shared
     * arena (or the global one).
     */
    public void rowsInto(Role role, int r0, Matrix dst) {
        if (role != Role.EMBED && role != Role.UNEMBED) throw new IllegalArgumentException(role + " is not a token table");
        TensorInfo t = file.info(name(role, 0));
        int cols = (int) t.shape()[1];
        if (r0 < 0 || (long) r0 + dst.rows() > t.shape()[0] || dst.cols() != cols || !dst.contiguous()) {
            throw new IllegalArgumentException("rows " + r0 + " + " + dst.rows() + " of " + t.name() + " into " + dst.rows() + "x" + dst.cols());
        }
        MemorySegment src = file.segment(t);
        MemorySegment out = dst.segment().asSlice(dst.offset() * Float.BYTES, (long) dst.rows() * cols * Float.BYTES);
        if (t.dtype() == DType.F32) {
            MemorySegment.copy(src, (long) r0 * cols * Float.BYTES, out, 0, out.byteSize());
            return;
        }
        io.headscan.format.HalfFloats.widenAll(src.asSlice((long) r0 * cols * Short.BYTES, (long) dst.rows() * cols * Short.BYTES), out,
                (long) dst.rows() * cols, t.dtype() == DType.F16);
    }

    /**
     * Row {@code t} of the table {@code role} (EMBED or UNEMBED) as F32 into {@code row} (d floats): read in place, or
     * (F16/BF16) widened alone through {@code scratch} (d shorts), never widening the table.
     */
    public void tableRow(Role role, int t, float[] row, short[] scratch) {
        if (tableInPlace(role)) {
            Matrix m = matrix(name(role, 0));
            MemorySegment.copy(m.segment(), SafetensorsFile.F32_LE, (m.offset() + (long) t * m.ld()) * Float.BYTES, row, 0, m.cols());
            return;
        }
        TensorInfo info = file.info(name(role, 0));
        int cols = (int) info.shape()[1];
        if (t < 0 || t >= info.shape()[0]) throw new IndexOutOfBoundsException("row " + t + " outside [0, " + info.shape()[0] + ") of " + info.name());
        io.headscan.format.HalfFloats.widen(file.segment(info), (long) t * cols, row, cols, info.dtype() == DType.F16, scratch);
    }

    /** Whether the table {@code role} (EMBED or UNEMBED) is read in place: F32, or already widened whole. */
    public boolean tableInPlace(Role role) {
        TensorInfo t = file.info(name(role, 0));
        Widened w = widenedTensors.get(t.name());
        return t.dtype() == DType.F32 || (w != null && w.done());
    }

    /** Whether the unembedding is the embedding (tied). */
    public boolean tied() {
        return tied;
    }

    /** The kind of every norm of this model. */
    public Family.NormKind normKind() {
        return family.more().norm();
    }

    /** The factor of the embedding on the residual's input side: sqrt(d_model) for Gemma, else 1. */
    public float embeddingScale() {
        return family.more().embedScaled() ? (float) Math.sqrt(dims.dModel()) : 1f;
    }

    /** The attention-logit soft-cap c (S ↦ c·tanh(S / c)), or 0 for none (docs/science.md §9). */
    public double attentionSoftcap() {
        return attnSoftcap;
    }

    /** Whether U is centred over the vocabulary (center_unembed): not where the final logits are soft-capped. */
    public boolean centredUnembed() {
        return centredUnembed;
    }

    /** Whether writing weights (W_E, attention and MLP outputs) are centred over d: in LayerNorm families only. */
    public boolean centredWriting() {
        return normKind().centred();
    }

    /**
     * A norm weight as it acts (docs/science.md §9): the tensor as stored, Gemma's 1 + w, or 1 for a norm without
     * parameters; null when the family has no such norm.
     */
    private Matrix normWeight(Role role, int layer) {
        Family.NormKind kind = normKind();
        if ((role == Role.POST_ATTENTION_NORM || role == Role.POST_MLP_NORM) && name(role, layer) == null) return null;
        if (kind == Family.NormKind.LAYER_NORM_NO_PARAMETERS) {
            return Matrix.dense(effectiveNorms.computeIfAbsent("ones", k -> ones()), 1, dims.dModel());
        }
        String n = name(role, layer);
        if (n == null) return null;
        if (kind != Family.NormKind.RMS_NORM_PLUS_ONE) return matrix(n);
        MemorySegment seg = effectiveNorms.computeIfAbsent(n, k -> {
            float[] w = matrix(k).toArray();
            for (int i = 0; i < w.length; i++) w[i] = (float) (1.0 + w[i]);
            return widened.allocateFrom(java.lang.foreign.ValueLayout.JAVA_FLOAT, w);
        });
        return Matrix.dense(seg, 1, dims.dModel());
    }

    private MemorySegment ones() {
        float[] w = new float[dims.dModel()];
        Arrays.fill(w, 1f);
        return widened.allocateFrom(java.lang.foreign.ValueLayout.JAVA_FLOAT, w);
    }

    private float[] normVector(Role role, int layer) {
        Matrix m = normWeight(role, layer);
        return m == null ? null : m.toArray();
    }

    /** A norm bias, or null where the family's norms have none (RMSNorm, OLMo's). */
    private float[] optionalVector(Role role, int layer) {
        String n = name(role, layer);
        return n == null ? null : vector(n);
    }

    /** The unembedding's bias [V] (GPT-J's lm_head), or null. */
    public float[] unembeddingBias() {
        String n = name(Role.UNEMBED_BIAS, 0);
        return n == null ? null : vector(n);
    }

    /** The final norm's weight as it acts (Gemma: 1 + w; no parameters: 1). */
    public float[] finalNormWeight() {
        return normVector(Role.FINAL_NORM_WEIGHT, 0);
    }

    /** The final norm's bias, or null (RMSNorm families, OLMo). */
    public float[] finalNormBias() {
        return optionalVector(Role.FINAL_NORM_BIAS, 0);
    }

    /** Layer l's pre-attention norm weight g1 as it acts (folded into its W_Q, W_K, W_V). */
    public float[] preAttentionNormWeight(int layer) {
        checkLayer(layer);
        return normVector(Role.LN1_WEIGHT, layer);
    }

    /** The same as a 1 × d matrix (a view of the checkpoint where stored as is; for backends that fold it in themselves). */
    public Matrix preAttentionNormWeightMatrix(int layer) {
        checkLayer(layer);
        return normWeight(Role.LN1_WEIGHT, layer);
    }

    public float[] preMlpNormWeight(int layer) {
        checkLayer(layer);
        return normVector(Role.LN2_WEIGHT, layer);
    }

    /** The pre-MLP norm's bias, or null. */
    public float[] preMlpNormBias(int layer) {
        checkLayer(layer);
        return optionalVector(Role.LN2_BIAS, layer);
    }

    /** The norm on the attention output before the residual add (Gemma-2), as it acts, or null. */
    public float[] postAttentionNormWeight(int layer) {
        checkLayer(layer);
        return normVector(Role.POST_ATTENTION_NORM, layer);
    }

    /** The norm on the MLP output (Gemma-2), as it acts, or null. */
    public float[] postMlpNormWeight(int layer) {
        checkLayer(layer);
        return normVector(Role.POST_MLP_NORM, layer);
    }

    /** The gate projection of a gated MLP [d, d_mlp] in x @ W form, or null. */
    public Weight mlpGate(int layer) {
        checkLayer(layer);
        String n = name(Role.MLP_GATE, layer);
        return n == null ? null : weight(n, family.mlpLinear());
    }

    /** The MLP's input weight [d, d_mlp] in x @ W form. */
    public Weight mlpIn(int layer) {
        checkLayer(layer);
        return weight(name(Role.MLP_IN, layer), family.mlpLinear());
    }

    public float[] mlpInBias(int layer) {
        checkLayer(layer);
        return optionalVector(Role.MLP_IN_BIAS, layer);
    }

    /** The MLP's output weight [d_mlp, d] in x @ W form. */
    public Weight mlpOut(int layer) {
        checkLayer(layer);
        return weight(name(Role.MLP_OUT, layer), family.mlpLinear());
    }

    public float[] mlpOutBias(int layer) {
        checkLayer(layer);
        return optionalVector(Role.MLP_OUT_BIAS, layer);
    }

    private Weight weight(String tensor, boolean linear) {
        return new Weight(matrix(tensor), linear);
    }

    /** All heads' Q, K or V projection of a layer, and where each head's columns are in its output. */
    public HeadColumns columns(int layer, Kind kind) {
        checkLayer(layer);
        int d = dims.dModel(), dh = dims.dHead();
        return switch (family.qkv()) {
            case FUSED_THIRDS -> new HeadColumns(Weight.of(matrix(name(Role.Q, layer))).columnBlock(kind.ordinal() * d, d), 0, dh);
            case FUSED_BY_HEAD -> new HeadColumns(weight(name(Role.Q, layer), true), kind.ordinal() * dh, 3 * dh);
            case SEPARATE -> new HeadColumns(weight(name(Role.values()[Role.Q.ordinal() + kind.ordinal()], layer), true), 0, dh);
        };
    }

    /** W_Q of a head: [d, d_h]. */
    public Weight wq(HeadId h) {
        return headBlock(h, Kind.Q);
    }

    /** W_K of a head: [d, d_h]. */
    public Weight wk(HeadId h) {
        return headBlock(h, Kind.K);
    }

    /** W_V of a head: [d, d_h]. */
    public Weight wv(HeadId h) {
        return headBlock(h, Kind.V);
    }

    /** Query head h's block; K and V: the block of the key/value head it reads (grouped-query attention). */
    private Weight headBlock(HeadId h, Kind kind) {
        h.checkIn(dims);
        HeadColumns c = columns(h.layer(), kind);
        int j = kind == Kind.Q ? h.head() : dims.kvHead(h.head());
        return c.weight().columnBlock(c.base() + j * c.stride(), dims.dHead());
    }

    /** The attention output weight of a layer, all heads: [H·d_h, d], canonical rows h·d_h .. belong to head h. */
    public Weight out(int layer) {
        checkLayer(layer);
        return weight(name(Role.O, layer), family.oLinear());
    }

    /** W_O of a head: [d_h, d]. */
    public Weight wo(HeadId h) {
        h.checkIn(dims);
        return out(h.layer()).rowBlock(h.head() * dims.dHead(), dims.dHead());
    }

    /** The tensors of a layer's attention that the QK or OV circuits read (Q, K, V and O; fused ones once). */
    public List<String> attentionTensors(int layer) {
        Set<String> s = new LinkedHashSet<>();
        for (Role r : List.of(Role.Q, Role.K, Role.V, Role.O)) s.add(name(r, layer));
        return List.copyOf(s);
    }

    /**
     * Starts touching every page of these tensors (full names) on a background (daemon) thread and returns at once. A
     * mapped page costs a fault on first use (on virtual machines, microseconds each: ~0.1 s for the 80 MB a
     * {@code score} run reads); done while the process is still single-threaded (loading a backend, parsing bags),
     * the computation later finds its weights ready. Closing the model stops it.
     */
    public void prefetch(List<String> tensors) {
        List<MemorySegment> parts = new ArrayList<>();
        for (String n : new LinkedHashSet<>(tensors)) {   // each once
            // F32 only: a half-precision tensor is read by its widening, a layer at a time, which needs no warming
            if (n != null && file.has(n) && file.info(n).dtype() == DType.F32) parts.add(file.segment(file.info(n)));
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
            for (Widened w : widenedTensors.values()) w.free();   // the computation is over: nothing holds them
            widenedTensors.clear();
        }
    }
}
