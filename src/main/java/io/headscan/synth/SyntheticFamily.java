package io.headscan.synth;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.AtomicFiles;
import io.headscan.format.DType;
import io.headscan.format.PyTorchZipWriter;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.SafetensorsWriter;
import io.headscan.format.TensorInfo;
import io.headscan.model.Activation;
import io.headscan.model.Dims;
import io.headscan.model.Family;
import io.headscan.model.Gpt2Layout;
import io.headscan.model.HeadId;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.IntUnaryOperator;
import java.util.stream.IntStream;

/**
 * Writes a planted-head checkpoint of any family {@code synth} knows, in that family's exact Hugging Face layout (the
 * names, shapes and orientations {@code XxxForCausalLM.save_pretrained} writes; docs/science.md §9.1) with a config.json
 * of its {@code model_type}. GPT-2 is {@link SyntheticGpt2} itself, unchanged.
 *
 * <p>Every other family is the same model re-laid out: {@link SyntheticGpt2} writes its GPT-2-layout tensors (same seed,
 * same canonical weights) to a staging file beside the target, and each tensor of the family is then produced from the
 * mapped staging file: Conv1D [in, out] weights transposed to Linear [out, in], {@code c_attn} split into q/k/v or
 * reordered by head (GPT-NeoX), the embedding copied into an untied unembedding (GPT-NeoX, GPT-J, with a zero
 * {@code lm_head.bias} for GPT-J), OPT's position table given its two offset rows. Nothing is held on the heap but the
 * planted heads' calibration: the re-layout reads and writes mappings.
 *
 * <p>What a family computes differently is calibrated for (so planted heads keep {@link SyntheticGpt2#PLANT_DIAGONAL_LOGIT}):
 * a parallel block's MLP reads the block's input (GPT-NeoX, GPT-J), GPT-J's MLP reads {@code ln_1} (it has no
 * {@code ln_2}, so the source's {@code ln_2} is not written), the MLP's activation (GPT-NeoX: erf gelu, OPT: relu), and
 * GPT-Neo's missing attention scale (its planted W_Q carries 1/sqrt(d_head) instead). Planted W_Q and W_K are therefore
 * the GPT-2 source's up to one factor per head; every other weight is the GPT-2 source's exactly.
 *
 * <p>The Llama-like families (Llama, Mistral, Qwen2, Gemma, Gemma-2, OLMo-1: RMSNorm or parameter-free norms, gated
 * MLPs, grouped-query attention) are not re-laid out: GPT-2's LayerNorm biases and centring have no place in them.
 * {@link SyntheticLlamaLike} writes them directly, streamed, with their own layer 0 and calibration.
 */
public final class SyntheticFamily {

    /** The families {@code synth} writes, by {@code model_type}. */
    public static final List<Family> WRITTEN = List.of(Family.GPT2, Family.GPT_NEOX, Family.GPT_NEO, Family.OPT, Family.GPTJ,
            Family.LLAMA, Family.MISTRAL, Family.QWEN2, Family.GEMMA, Family.GEMMA2, Family.OLMO);

    /**
     * Whether synth writes the family with grouped-query attention ({@code --kv-heads}): the Llama-like families, whose
     * configs have {@code num_key_value_heads}.
     */
    public static boolean groupedQuery(Family f) {
        return !f.more().kvHeads().isEmpty();
    }

    /** The families {@link #groupedQuery} accepts, for messages. */
    public static String groupedQueryNames() {
        return String.join(", ", WRITTEN.stream().filter(SyntheticFamily::groupedQuery).map(Family::modelType).toList());
    }

    /** The family named by its {@code model_type}, if synth writes it. */
    public static Optional<Family> byName(String modelType) {
        return WRITTEN.stream().filter(f -> f.modelType().equals(modelType)).findFirst();
    }

    /** The names {@link #byName} accepts, for messages. */
    public static String names() {
        return String.join(", ", WRITTEN.stream().map(Family::modelType).toList());
    }

    private final Family family;
    private final long seed;
    /** The GPT-2 source of the LayerNorm families, or null. */
    private final SyntheticGpt2 source;
    /** The direct writer of the Llama-like families, or null. */
    private final SyntheticLlamaLike direct;
    private DType dtype = DType.F32;
    private boolean pytorch;

    /**
     * @param dims with {@code kvHeads < heads} (grouped-query attention) or a head width other than d_model / heads only
     *             for the families that have them ({@link #groupedQuery}; head_dim: not Qwen2 or OLMo)
     */
    public SyntheticFamily(Family family, Dims dims, long seed, List<HeadId> plant) {
        if (!WRITTEN.contains(family)) throw new IllegalArgumentException("synth does not write " + family.label() + " (it writes " + names() + ")");
        this.family = family;
        this.seed = seed;
        if (groupedQuery(family)) {
            this.source = null;
            this.direct = new SyntheticLlamaLike(family, dims, seed, plant);
            return;
        }
        if (dims.grouped() || dims.qWidth() != dims.dModel()) {
            throw new IllegalArgumentException(family.label() + " has no grouped-query attention and no head width other than d_model / heads");
        }
        this.direct = null;
        this.source = new SyntheticGpt2(dims, seed, plant);
        if (family != Family.GPT2) source.calibratedFor(calibration(family, dims)).withoutMaskBuffers();
    }

    /** What the family's model computes differently from GPT-2 on the planted heads' path (docs/science.md §9). */
    static SyntheticGpt2.Calibration calibration(Family f, Dims dims) {
        double queryScale = f.attentionScale() == Family.BaseScale.ONE ? 1 / Math.sqrt(dims.dHead()) : 1;
        return new SyntheticGpt2.Calibration(f.parallel(), f.ln2Weight() == null, activation(f), queryScale);
    }

    /** The MLP activation the written config names. */
    static Activation activation(Family f) {
        return f.keys().defaultActivation();
    }

    public Family family() {
        return family;
    }

    public List<HeadId> planted() {
        return direct != null ? direct.planted() : source.planted();
    }

    /** F32, F16 or BF16 (as {@link SyntheticGpt2#storedAs}). */
    public SyntheticFamily storedAs(DType dtype) {
        this.dtype = SyntheticGpt2.checkStored(dtype);
        if (direct != null) direct.storedAs(dtype);
        else source.storedAs(dtype);
        return this;
    }

    /** Writes {@code pytorch_model.bin} with the names {@code XxxForCausalLM.state_dict()} has, instead of model.safetensors. */
    public SyntheticFamily asPyTorch(boolean on) {
        this.pytorch = on;
        if (source != null) source.asPyTorch(on);
        return this;
    }

    /** The tokens the planted heads' mean diagonal logit is calibrated on (tests check it). */
    int[] calibrationTokens() {
        return direct != null ? direct.calibrationTokens() : source.calibrationTokens();
    }

    /** Writes {@code dir/model.safetensors} (or {@code pytorch_model.bin}) and {@code dir/config.json}, each atomically. */
    public SyntheticGpt2.Result write(Path dir, int threads) throws IOException {
        if (family == Family.GPT2) return source.write(dir, threads);
        Files.createDirectories(dir);
        Path weights = dir.resolve(pytorch ? "pytorch_model.bin" : "model.safetensors");
        Path config = dir.resolve("config.json");
        writeConfig(config);   // first: the weights, written last, complete the folder
        if (direct != null) {
            Path written = pytorch ? AtomicFiles.tempBeside(dir.resolve("model.safetensors")) : weights;
            try {
                SyntheticLlamaLike.Written w = direct.writeSafetensors(written, threads);
                int count = pytorch ? toPyTorch(written, weights) : w.tensors();
                return new SyntheticGpt2.Result(weights, config, Files.size(weights), count, w.parameters());
            } finally {
                if (pytorch) AtomicFiles.discard(written);
            }
        }
        Path staged = AtomicFiles.tempBeside(dir.resolve("gpt2-layout.safetensors"));
        Path relaid = pytorch ? AtomicFiles.tempBeside(dir.resolve("model.safetensors")) : weights;
        try {
            source.writeSafetensors(staged, threads);
            Layout layout;
            try (SafetensorsFile src = SafetensorsFile.open(staged)) {
                layout = new Layout(src);
                SafetensorsWriter w = new SafetensorsWriter().parallelism(threads);
                src.metadata().forEach(w::metadata);
                layout.tensors(w);
                w.write(relaid);
            }
            AtomicFiles.discard(staged);
            if (!pytorch) return new SyntheticGpt2.Result(weights, config, Files.size(weights), layout.count, layout.parameters);
            int count = toPyTorch(relaid, weights);
            return new SyntheticGpt2.Result(weights, config, Files.size(weights), count, layout.parameters);
        } finally {
            AtomicFiles.discard(staged);
            if (pytorch) AtomicFiles.discard(relaid);
        }
    }

    /**
     * The family's tensors, in the order its state dict lists them (transformers' module order), each filled from the
     * GPT-2-layout staging file. Safetensors files of tied families have no {@code lm_head.weight} (save_pretrained
     * drops the alias); {@link #toPyTorch} adds it back as the tied storage a {@code .bin} carries.
     */
    private final class Layout {
        private final SafetensorsFile src;
        private final Dims dims = source.dims();
        private final int d = dims.dModel(), dh = dims.dHead(), dm = dims.dMlp();
        private final int es = source.dtype().bytes();
        private SafetensorsWriter w;
        int count;
        long parameters;

        Layout(SafetensorsFile src) {
            this.src = src;
        }

        void tensors(SafetensorsWriter writer) {
            this.w = writer;
            String p = family.prefix();
            int layers = dims.layers();
            if (family == Family.GPT_NEOX) {
                copy(p + "embed_in.weight", Gpt2Layout.WTE, dims.vocab(), d);
                for (int l = 0; l < layers; l++) {
                    String b = p + "layers." + l + ".";
                    copy(b + "input_layernorm.weight", Gpt2Layout.ln1Weight(l), d);
                    copy(b + "input_layernorm.bias", Gpt2Layout.ln1Bias(l), d);
                    copy(b + "post_attention_layernorm.weight", Gpt2Layout.ln2Weight(l), d);
                    copy(b + "post_attention_layernorm.bias", Gpt2Layout.ln2Bias(l), d);
                    // rows (head, {q,k,v}, d_head) of the fused Linear: canonical column {q,k,v}·d + head·d_head + j of c_attn
                    IntUnaryOperator byHead = r -> (r % (3 * dh)) / dh * d + r / (3 * dh) * dh + r % dh;
                    transpose(b + "attention.query_key_value.weight", Gpt2Layout.cAttnWeight(l), 3 * d, byHead);
                    gather(b + "attention.query_key_value.bias", Gpt2Layout.cAttnBias(l), 3 * d, byHead);
                    transpose(b + "attention.dense.weight", Gpt2Layout.attnProjWeight(l), d, c -> c);
                    copy(b + "attention.dense.bias", Gpt2Layout.attnProjBias(l), d);
                    transpose(b + "mlp.dense_h_to_4h.weight", Gpt2Layout.fcWeight(l), dm, c -> c);
                    copy(b + "mlp.dense_h_to_4h.bias", Gpt2Layout.fcBias(l), dm);
                    transpose(b + "mlp.dense_4h_to_h.weight", Gpt2Layout.mlpProjWeight(l), d, c -> c);
                    copy(b + "mlp.dense_4h_to_h.bias", Gpt2Layout.mlpProjBias(l), d);
                }
                copy(p + "final_layer_norm.weight", Gpt2Layout.LNF_WEIGHT, d);
                copy(p + "final_layer_norm.bias", Gpt2Layout.LNF_BIAS, d);
                copy("embed_out.weight", Gpt2Layout.WTE, dims.vocab(), d);
            } else if (family == Family.GPT_NEO) {
                copy(p + "wte.weight", Gpt2Layout.WTE, dims.vocab(), d);
                copy(p + "wpe.weight", Gpt2Layout.WPE, dims.nCtx(), d);
                for (int l = 0; l < layers; l++) {
                    String b = p + "h." + l + ".";
                    copy(b + "ln_1.weight", Gpt2Layout.ln1Weight(l), d);
                    copy(b + "ln_1.bias", Gpt2Layout.ln1Bias(l), d);
                    separate(b + "attn.attention.", l, false);
                    transpose(b + "attn.attention.out_proj.weight", Gpt2Layout.attnProjWeight(l), d, c -> c);
                    copy(b + "attn.attention.out_proj.bias", Gpt2Layout.attnProjBias(l), d);
                    copy(b + "ln_2.weight", Gpt2Layout.ln2Weight(l), d);
                    copy(b + "ln_2.bias", Gpt2Layout.ln2Bias(l), d);
                    mlp(b + "mlp.c_fc", b + "mlp.c_proj", l);
                }
                copy(p + "ln_f.weight", Gpt2Layout.LNF_WEIGHT, d);
                copy(p + "ln_f.bias", Gpt2Layout.LNF_BIAS, d);
            } else if (family == Family.OPT) {
                copy(p + "embed_tokens.weight", Gpt2Layout.WTE, dims.vocab(), d);
                optPositions(p + "embed_positions.weight");
                copy(p + "final_layer_norm.weight", Gpt2Layout.LNF_WEIGHT, d);
                copy(p + "final_layer_norm.bias", Gpt2Layout.LNF_BIAS, d);
                for (int l = 0; l < layers; l++) {
                    String b = p + "layers." + l + ".";
                    separate(b + "self_attn.", l, true);
                    transpose(b + "self_attn.out_proj.weight", Gpt2Layout.attnProjWeight(l), d, c -> c);
                    copy(b + "self_attn.out_proj.bias", Gpt2Layout.attnProjBias(l), d);
                    copy(b + "self_attn_layer_norm.weight", Gpt2Layout.ln1Weight(l), d);
                    copy(b + "self_attn_layer_norm.bias", Gpt2Layout.ln1Bias(l), d);
                    mlp(b + "fc1", b + "fc2", l);
                    copy(b + "final_layer_norm.weight", Gpt2Layout.ln2Weight(l), d);
                    copy(b + "final_layer_norm.bias", Gpt2Layout.ln2Bias(l), d);
                }
            } else if (family == Family.GPTJ) {
                copy(p + "wte.weight", Gpt2Layout.WTE, dims.vocab(), d);
                for (int l = 0; l < layers; l++) {
                    String b = p + "h." + l + ".";
                    copy(b + "ln_1.weight", Gpt2Layout.ln1Weight(l), d);
                    copy(b + "ln_1.bias", Gpt2Layout.ln1Bias(l), d);
                    separate(b + "attn.", l, false);
                    transpose(b + "attn.out_proj.weight", Gpt2Layout.attnProjWeight(l), d, c -> c);
                    mlp(b + "mlp.fc_in", b + "mlp.fc_out", l);
                }
                copy(p + "ln_f.weight", Gpt2Layout.LNF_WEIGHT, d);
                copy(p + "ln_f.bias", Gpt2Layout.LNF_BIAS, d);
                copy("lm_head.weight", Gpt2Layout.WTE, dims.vocab(), d);
                add("lm_head.bias", new long[] {dims.vocab()}, seg -> seg.fill((byte) 0));
            } else {
                throw new IllegalStateException("no layout for " + family.label());
            }
        }

        /** k, v, q (transformers' order) as Linear [out, in] from c_attn's thirds; with biases from c_attn.bias (OPT). */
        private void separate(String base, int l, boolean biases) {
            for (int third : new int[] {1, 2, 0}) {
                String name = base + "kvq".charAt((third + 2) % 3) + "_proj.";
                int off = third * d;
                transpose(name + "weight", Gpt2Layout.cAttnWeight(l), d, c -> off + c);
                if (biases) gather(name + "bias", Gpt2Layout.cAttnBias(l), d, c -> off + c);
            }
        }

        /** The MLP's two Linear layers (with biases) from c_fc and c_proj. */
        private void mlp(String in, String out, int l) {
            transpose(in + ".weight", Gpt2Layout.fcWeight(l), dm, c -> c);
            copy(in + ".bias", Gpt2Layout.fcBias(l), dm);
            transpose(out + ".weight", Gpt2Layout.mlpProjWeight(l), d, c -> c);
            copy(out + ".bias", Gpt2Layout.mlpProjBias(l), d);
        }

        /** OPT's learned positions: position p is row p + 2; rows 0 and 1 (padding offsets) drawn like the rest. */
        private void optPositions(String name) {
            MemorySegment wpe = src.segment(src.info(Gpt2Layout.WPE));
            long offsetBytes = 2L * d * es;
            add(name, new long[] {dims.nCtx() + 2L, d}, seg -> {
                SyntheticGpt2.fillRows(seg.asSlice(0, offsetBytes), 2, d, source.dtype(),
                        r -> source.gaussian("embed_positions.offset", r, d, 0, SyntheticGpt2.WPE_STD));
                MemorySegment.copy(wpe, 0, seg, offsetBytes, wpe.byteSize());
            });
        }

        private void add(String name, long[] shape, SafetensorsWriter.Filler filler) {
            w.add(name, source.dtype(), shape, filler);
            count++;
            long n = 1;
            for (long s : shape) n *= s;
            parameters += n;
        }

        /** A tensor copied as it is. */
        private void copy(String name, String from, long... shape) {
            MemorySegment s = src.segment(src.info(from));
            add(name, shape, seg -> seg.copyFrom(s));
        }

        /** out[i] = from[col(i)], n elements. */
        private void gather(String name, String from, int n, IntUnaryOperator col) {
            MemorySegment s = src.segment(src.info(from));
            add(name, new long[] {n}, seg -> {
                for (int i = 0; i < n; i++) MemorySegment.copy(s, (long) col.applyAsInt(i) * es, seg, (long) i * es, es);
            });
        }

        /**
         * A Linear [rows, in] from a Conv1D [in, cols]: {@code out[r][c] = from[c][col(r)]}, in 64 × 64 blocks (both
         * sides stay in cache), row blocks in parallel.
         */
        private void transpose(String name, String from, int rows, IntUnaryOperator col) {
            TensorInfo t = src.info(from);
            MemorySegment s = src.segment(t);
            int in = (int) t.dim(0), cols = (int) t.dim(1);
            add(name, new long[] {rows, in}, seg -> IntStream.range(0, (rows + BLOCK - 1) / BLOCK).parallel().forEach(rb -> {
                int r0 = rb * BLOCK, r1 = Math.min(rows, r0 + BLOCK);
                int[] at = new int[r1 - r0];
                for (int r = r0; r < r1; r++) at[r - r0] = col.applyAsInt(r);
                for (int c0 = 0; c0 < in; c0 += BLOCK) {
                    int c1 = Math.min(in, c0 + BLOCK);
                    for (int r = r0; r < r1; r++) {
                        long dst = ((long) r * in + c0) * es, srcAt = ((long) c0 * cols + at[r - r0]) * es;
                        if (es == 4) {
                            for (int c = c0; c < c1; c++, dst += 4, srcAt += (long) cols * 4) seg.set(INT, dst, s.get(INT, srcAt));
                        } else {
                            for (int c = c0; c < c1; c++, dst += 2, srcAt += (long) cols * 2) seg.set(SHORT, dst, s.get(SHORT, srcAt));
                        }
                    }
                }
            }));
        }
    }

    private static final int BLOCK = 64;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    /**
     * The family's safetensors file (re-laid out, or written directly) as {@code pytorch_model.bin}: a tied checkpoint
     * gets {@code lm_head.weight} as an alias of its embedding's storage, GPT-NeoX the per-layer buffers old Pythia files carry (causal mask, masked_bias,
     * rotary inv_freq), which readers must ignore. Returns the number of tensors written.
     */
    private int toPyTorch(Path relaid, Path weights) throws IOException {
        Dims dims = dims();
        try (SafetensorsFile f = SafetensorsFile.open(relaid); Arena arena = Arena.ofConfined()) {
            PyTorchZipWriter pw = new PyTorchZipWriter().folder("pytorch_model");
            int count = 0;
            Buffers buffers = family == Family.GPT_NEOX ? new Buffers(arena, dims) : null;
            for (TensorInfo t : f.tensors()) {
                pw.add(t.name(), t.dtype(), t.shape(), f.segment(t));
                count++;
                if (buffers != null && t.name().endsWith(".post_attention_layernorm.bias")) {
                    String b = t.name().substring(0, t.name().length() - "post_attention_layernorm.bias".length()) + "attention.";
                    pw.add(b + "bias", DType.BOOL, new long[] {1, 1, dims.nCtx(), dims.nCtx()}, buffers.mask);
                    pw.add(b + "masked_bias", DType.F32, new long[0], buffers.maskedBias);
                    pw.add(b + "rotary_emb.inv_freq", DType.F32, new long[] {buffers.invFreq.byteSize() / 4}, buffers.invFreq);
                    count += 3;
                }
            }
            if (direct != null ? direct.tied() : family.tied()) {
                pw.tie("lm_head.weight", family.prefix() + family.embed());
                count++;
            }
            pw.write(weights);
            return count;
        }
    }

    /** GPT-NeoX's per-layer buffers as old {@code pytorch_model.bin} files carry them (the same values in every layer). */
    private static final class Buffers {
        final MemorySegment mask, maskedBias, invFreq;

        Buffers(Arena arena, Dims dims) {
            int n = dims.nCtx();
            mask = arena.allocate(Math.max(1L, (long) n * n)).asSlice(0, (long) n * n);
            for (int i = 0; i < n; i++) mask.asSlice((long) i * n, i + 1).fill((byte) 1);
            maskedBias = arena.allocate(4);
            maskedBias.set(SafetensorsFile.F32_LE, 0, -1e9f);
            int rot = rotaryDims(dims.dHead());
            invFreq = arena.allocate(4L * Math.max(1, rot / 2)).asSlice(0, 4L * (rot / 2));
            for (int i = 0; i < rot / 2; i++) invFreq.setAtIndex(SafetensorsFile.F32_LE, i, (float) (1 / Math.pow(10000, 2.0 * i / rot)));
        }
    }

    /** Pythia's rotary_pct 0.25 of each head's dimensions (at least one pair where the head has two). */
    static int rotaryDims(int dHead) {
        return Math.min(dHead, Math.max(2, dHead / 4));
    }

    /** GPT-J's rotary_dim: a quarter of the head (as GPT-J-6B's 64 of 256), even, at least 2 where the head has 2. */
    static int gptjRotaryDim(int dHead) {
        return Math.min(dHead, Math.max(2, dHead / 4 / 2 * 2));
    }

    private Dims dims() {
        return direct != null ? direct.dims() : source.dims();
    }

    /** config.json: the family's own keys, then torch_dtype and what synth wrote (seed, planted heads, their logit). */
    private void writeConfig(Path config) throws IOException {
        ObjectNode n = direct != null ? direct.config() : layerNormConfig();
        n.put("torch_dtype", switch (dtype) {
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            default -> "float32";
        });
        ObjectNode s = n.putObject("headscan_synth");
        s.put("seed", seed);
        s.put("plant", String.join(",", planted().stream().map(HeadId::toString).toList()));
        s.put("plant_diagonal_logit", SyntheticGpt2.PLANT_DIAGONAL_LOGIT);
        AtomicFiles.writeString(config, io.headscan.Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n");
    }

    /** The keys of a LayerNorm family's config (GPT-NeoX, GPT-Neo, OPT, GPT-J). */
    private ObjectNode layerNormConfig() {
        ObjectMapper om = io.headscan.Json.MAPPER;
        Dims dims = dims();
        ObjectNode n = om.createObjectNode();
        n.put("model_type", family.modelType());
        boolean mlp4d = dims.dMlp() == 4 * dims.dModel();
        String act = activation(family).configName();
        switch (family.modelType()) {
            case "gpt_neox" -> {
                n.putArray("architectures").add("GPTNeoXForCausalLM");
                n.put("vocab_size", dims.vocab());
                n.put("hidden_size", dims.dModel());
                n.put("num_hidden_layers", dims.layers());
                n.put("num_attention_heads", dims.heads());
                n.put("intermediate_size", dims.dMlp());
                n.put("hidden_act", act);
                n.put("rotary_pct", 0.25);
                n.put("rotary_emb_base", 10000);
                n.put("max_position_embeddings", dims.nCtx());
                n.put("layer_norm_eps", 1e-5);
                n.put("use_parallel_residual", true);
                n.put("tie_word_embeddings", false);
                n.put("bos_token_id", 0);
                n.put("eos_token_id", 0);
            }
            case "gpt_neo" -> {
                n.putArray("architectures").add("GPTNeoForCausalLM");
                n.put("vocab_size", dims.vocab());
                n.put("max_position_embeddings", dims.nCtx());
                n.put("hidden_size", dims.dModel());
                n.put("num_layers", dims.layers());
                n.put("num_heads", dims.heads());
                if (mlp4d) n.putNull("intermediate_size"); else n.put("intermediate_size", dims.dMlp());
                n.put("activation_function", act);
                // GPT-Neo alternates global and local attention; a local window changes nothing at one position
                ArrayNode types = n.putArray("attention_types");
                ArrayNode layersList = om.createArrayNode();
                for (int l = 0; l < dims.layers(); l++) layersList.add(l % 2 == 0 ? "global" : "local");
                if (dims.layers() >= 2) {
                    ArrayNode pair = types.addArray();
                    pair.addArray().add("global").add("local");
                    pair.add(dims.layers() / 2);
                }
                if (dims.layers() % 2 == 1) {
                    ArrayNode single = types.addArray();
                    single.addArray().add("global");
                    single.add(1);
                }
                n.set("attention_layers", layersList);
                n.put("window_size", 256);
                n.put("layer_norm_epsilon", 1e-5);
                n.put("bos_token_id", 50256);
                n.put("eos_token_id", 50256);
            }
            case "opt" -> {
                n.putArray("architectures").add("OPTForCausalLM");
                n.put("vocab_size", dims.vocab());
                n.put("hidden_size", dims.dModel());
                n.put("num_hidden_layers", dims.layers());
                n.put("num_attention_heads", dims.heads());
                n.put("ffn_dim", dims.dMlp());
                n.put("max_position_embeddings", dims.nCtx());
                n.put("do_layer_norm_before", true);
                n.put("word_embed_proj_dim", dims.dModel());
                n.put("activation_function", act);
                n.put("enable_bias", true);
                n.put("layer_norm_elementwise_affine", true);
                n.put("_remove_final_layer_norm", false);
                n.put("pad_token_id", 1);
                n.put("bos_token_id", 2);
                n.put("eos_token_id", 2);
            }
            case "gptj" -> {
                n.putArray("architectures").add("GPTJForCausalLM");
                n.put("vocab_size", dims.vocab());
                n.put("n_positions", dims.nCtx());
                n.put("n_embd", dims.dModel());
                n.put("n_layer", dims.layers());
                n.put("n_head", dims.heads());
                n.put("rotary_dim", gptjRotaryDim(dims.dHead()));
                if (mlp4d) n.putNull("n_inner"); else n.put("n_inner", dims.dMlp());
                n.put("activation_function", act);
                n.put("layer_norm_epsilon", 1e-5);
                n.put("tie_word_embeddings", false);
                n.put("bos_token_id", 50256);
                n.put("eos_token_id", 50256);
            }
            default -> throw new IllegalStateException("no config for " + family.label());
        }
        return n;
    }
}
