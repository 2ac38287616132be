package io.headscan.synth;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.format.DType;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.SafetensorsWriter;
import io.headscan.model.Activation;
import io.headscan.model.Dims;
import io.headscan.model.Family;
import io.headscan.model.HeadId;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/**
 * Writes a planted-head checkpoint of a Llama-like family (Llama, Mistral, Qwen2, Gemma, Gemma-2, OLMo-1: the
 * {@code model.layers.L.self_attn.*} layout of docs/science.md §9.1) directly in that layout, with the names, shapes,
 * [out, in] orientations and config.json keys {@code XxxForCausalLM.save_pretrained} writes, grouped-query attention
 * included. There is no GPT-2 source here: its LayerNorm biases and centring do not exist in these families.
 *
 * <p><b>Scale.</b> Every weight is a {@link CounterDraws} draw (element i of a tensor is a function of the seed, the
 * tensor's name and i) or built from such draws, so each tensor is computed straight into its slice of the output
 * mapping, blocks of rows in parallel, in its stored type: nothing proportional to the model is on the heap and there
 * is no staging file. Calibration reads layer 0 on 64 tokens, regenerating rows as it goes.
 *
 * <p><b>Weights.</b> Embedding N(0, 0.02²), Linear weights N(0, 1/fan_in), norm weights 1 ± 0.05 as they act (Gemma's
 * stored w ≈ 0.05 N, so that 1 + w is that), Qwen2's q/k/v biases 0.02 N (which headscan drops). The untied
 * unembedding ({@code lm_head}: Llama, Mistral, OLMo) holds the embedding's values; Qwen2 is written tied, as its small
 * sizes are. Layer 0 is built so that the effective embedding W_EE (docs/science.md §9) is close to a positive
 * semi-definite linear map of the token's embedding, whatever the norm (RMS, 1 + w, parameter-free LayerNorm) and
 * however gated the MLP:
 * <ul>
 *   <li>coordinate {@link #BIAS} of every embedding row is the constant μ = 0.02·sqrt(d) (as large as the rest of the
 *   row): a bias input that RMSNorm keeps. MLP0's {@code gate_proj} reads that coordinate alone, with one weight β, so
 *   {@code act(gate(x))} is the same positive scalar for every hidden unit (SiLU and the tanh GELU alike); its
 *   {@code up_proj} never reads it and its {@code down_proj} is c·{@code up_proj}ᵀ, so MLP0 computes
 *   {@code c·act(β·x₀)·W_upᵀ·W_up·x}: PSD in x, times a per-token scalar. β puts the gate's input at 2 on average,
 *   c makes MLP0's output as large as the residual's input (Gemma-2: its {@code post_feedforward_layernorm} does);</li>
 *   <li>layer-0 attention neither reads nor writes coordinate {@link #BIAS}, and its random heads add about 0.3 of the
 *   residual (Gemma-2: layer 0's {@code post_attention_layernorm} keeps the attention output at the size it had).</li>
 * </ul>
 * Constant parts of W_EE (from the bias coordinate) shift every key of a query alike, which no score sees.
 *
 * <p><b>Planted heads.</b> Each planted head l.h reads the key/value head j = kv(h), and each planted (l, j) has a
 * random R [d, d_h] (zero on the bias coordinate). The planted head gets {@code W_Q = α_Q·diag(1/g1)·R}, its key/value
 * head {@code W_K = α_K·diag(1/g1)·R} and {@code W_V = diag(1/g1)·R}, and the head {@code W_O = −Rᵀ} (negative
 * copying, as {@link SyntheticGpt2}'s), so {@code q_t·k_s ∝ (Rᵀu_t)·(Rᵀw_s)} peaks at s = t. With grouped-query
 * attention only that is touched: the planted query heads' q_proj rows and o_proj columns, and their key/value head's
 * k_proj and v_proj rows. The other query heads of the group keep their own random W_Q and W_O and read the planted K
 * and V: random queries against those keys have no diagonal, so their scores stay at chance. Planted heads that share
 * a key/value head share R, and so α. In layer 0, W_O = −γ·Rᵀ with γ = 0.2·(the residual's RMS) / (planted heads on R):
 * together they take about a fifth of the residual along R, so W_EE keeps most of its signal there (at a half, the
 * random heads' and MLP0's mixing drowned it on small models).
 *
 * <p><b>Calibration.</b> α_Q·α_K is set so that the mean over the {@link #calibrationTokens} of
 * {@code softcap(scale·q_t·k_t)} is {@link SyntheticGpt2#PLANT_DIAGONAL_LOGIT}, with U and the hackathon W_EE computed
 * as the family's model computes them (norm kind and ε, 1 + w, the embedding's sqrt(d) on the input side, Gemma-2's
 * sandwich norms, its query_pre_attn_scalar and soft-caps, centring over d for OLMo's LayerNorm, over the vocabulary
 * unless the final logits are soft-capped), from the F32 values before any rounding; where the logits are soft-capped
 * the product is found by bisection. A negative mean diagonal puts its sign on α_Q.
 */
final class SyntheticLlamaLike {

    static final double EMBED_STD = 0.02;
    static final double NORM_STD = 0.05;
    static final double BIAS_STD = 0.02;
    /** Size of layer-0 attention's random heads' output relative to the residual's input (about). */
    static final double LAYER0_ATTENTION = 0.3;
    /** Part of the residual along R that planted layer-0 heads remove (negative copying), shared by those on one R. */
    static final double LAYER0_PLANT = 0.2;
    /** MLP0's gate input on the calibration tokens, on average. */
    static final double GATE_INPUT = 2.0;
    /** The embedding coordinate that is a constant: MLP0's gate reads it alone. */
    static final int BIAS = 0;
    /** Gemma-2's soft-caps, as its released configs set them. */
    static final double GEMMA2_ATTN_SOFTCAP = 50.0, GEMMA2_FINAL_SOFTCAP = 30.0;

    private final Family family;
    private final Dims dims;
    private final long seed;
    private final List<HeadId> planted;
    private DType dtype = DType.F32;

    private final int d, dh, dm, heads, kvHeads;
    /** Gemma's stored w of norms acting as 1 + w. */
    private final boolean plusOne;
    /** OLMo-1: LayerNorm without parameters (no norm tensors, centred writing). */
    private final boolean normless;
    private final boolean sandwich, biases, tied;
    private final double eps, embedScale, attnScale, attnCap, mu, residualRms;
    private final Activation act;
    /** The planted (layer, key/value head) pairs, each with its R. */
    private final List<Group> groups = new ArrayList<>();
    private final Group[][] byQuery, byKv;

    /** A planted (layer, key/value head): the planted query heads on it, its layer's g1 as it acts, its R's stream. */
    private final class Group {
        final int layer, kv, index;
        final List<Integer> queries = new ArrayList<>();
        final double[] g1;
        final long r;

        Group(int layer, int kv, int index) {
            this.layer = layer;
            this.kv = kv;
            this.index = index;
            this.g1 = normActing(Family.at(family.ln1Weight(), layer), 1);
            this.r = CounterDraws.stream(seed, "plant." + layer + "." + kv);
        }

        /** R[c][i]: N(0, 1/d), zero on the bias coordinate. */
        double r(int c, int i) {
            return c == BIAS ? 0 : CounterDraws.normal(r, (long) c * dh + i) / Math.sqrt(d);
        }
    }

    SyntheticLlamaLike(Family family, Dims dims, long seed, List<HeadId> plant) {
        if (!family.gated() || family.qkv() != Family.Qkv.SEPARATE) throw new IllegalArgumentException(family.label() + " is not Llama-like");
        if (!headDimInConfig(family) && dims.qWidth() != dims.dModel()) {
            throw new IllegalArgumentException(family.label() + " configs have no head_dim: d_head must be d_model / heads");
        }
        if (dims.nCtx() <= 0) throw new IllegalArgumentException(family.label() + " needs a context length (max_position_embeddings)");
        if (dims.dModel() < 2) throw new IllegalArgumentException("d_model must be at least 2 (one coordinate is the embedding's bias input)");
        this.family = family;
        this.dims = dims;
        this.seed = seed;
        d = dims.dModel();
        dh = dims.dHead();
        dm = dims.dMlp();
        heads = dims.heads();
        kvHeads = dims.kvHeads();
        Family.More more = family.more();
        plusOne = more.norm() == Family.NormKind.RMS_NORM_PLUS_ONE;
        normless = more.norm() == Family.NormKind.LAYER_NORM_NO_PARAMETERS;
        sandwich = more.postAttentionNorm() != null;
        biases = family == Family.QWEN2;
        tied = family.tied() || family == Family.QWEN2;
        eps = normless ? Family.defaultEps() : family == Family.LLAMA || family == Family.MISTRAL ? 1e-5 : 1e-6;
        embedScale = more.embedScaled() ? (float) Math.sqrt(d) : 1;
        attnScale = 1 / Math.sqrt(dh);   // Gemma-2: query_pre_attn_scalar is written as d_head
        attnCap = more.attnSoftcap() != null ? GEMMA2_ATTN_SOFTCAP : 0;
        act = family.keys().defaultActivation();
        mu = EMBED_STD * Math.sqrt(d);
        residualRms = embedScale * EMBED_STD * Math.sqrt(2 - 1.0 / d);
        TreeSet<HeadId> set = new TreeSet<>();
        for (HeadId h : plant) set.add(h.checkIn(dims));
        this.planted = List.copyOf(set);
        byQuery = new Group[dims.layers()][heads];
        byKv = new Group[dims.layers()][kvHeads];
        for (HeadId h : planted) {
            int l = h.layer(), j = dims.kvHead(h.head());
            if (byKv[l][j] == null) {
                byKv[l][j] = new Group(l, j, groups.size());
                groups.add(byKv[l][j]);
            }
            byKv[l][j].queries.add(h.head());
            byQuery[l][h.head()] = byKv[l][j];
        }
    }

    /** Whether the family's config has a head_dim key (transformers' Qwen2 and OLMo configs have none). */
    static boolean headDimInConfig(Family f) {
        return f != Family.QWEN2 && f != Family.OLMO;
    }

    List<HeadId> planted() {
        return planted;
    }

    Dims dims() {
        return dims;
    }

    /** Whether the written checkpoint has no separate unembedding (Gemma, Gemma-2, and Qwen2 as written here). */
    boolean tied() {
        return tied;
    }

    SyntheticLlamaLike storedAs(DType dtype) {
        this.dtype = dtype;
        return this;
    }

    /** The tokens whose mean diagonal logit the planted heads are calibrated to (as {@link SyntheticGpt2}'s). */
    int[] calibrationTokens() {
        int n = Math.min(SyntheticGpt2.CALIBRATION_TOKENS, dims.vocab());
        SplittableRandom pick = new SplittableRandom(SyntheticGpt2.mix(seed, 77, 0));
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = pick.nextInt(dims.vocab());
        return out;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Tensors
    // ------------------------------------------------------------------------------------------------------------

    /** Row r of a tensor, computed into {@code out} (its length is the row's). */
    @FunctionalInterface
    private interface Rows {
        void row(int r, float[] out);
    }

    /** One tensor of the layout: [rows, cols] (a vector: one row), filled row by row. */
    private record Spec(String name, long[] shape, int rows, int cols, Rows source) {}

    /** What the calibration fixes: MLP0's gate weight β and down-projection factor, the planted α_Q and α_K per group. */
    private record Plan(double beta, double down, double attentionNorm, double[] alphaQ, double[] alphaK) {}

    /** What {@link #writeSafetensors} wrote. */
    record Written(int tensors, long parameters) {}

    private String name(String pattern, int layer) {
        return family.prefix() + Family.at(pattern, layer);
    }

    private static String bias(String weight) {
        return weight.substring(0, weight.length() - "weight".length()) + "bias";
    }

    /** The tensors in the order the family's state dict lists them (transformers' module order). */
    private List<Spec> specs(Plan p) {
        List<Spec> out = new ArrayList<>();
        Family.More more = family.more();
        int qw = dims.qWidth(), kw = dims.kvWidth();
        out.add(matrix(family.prefix() + family.embed(), dims.vocab(), d, this::embedRow));
        for (int l = 0; l < dims.layers(); l++) {
            int layer = l;
            String q = name(family.q(), l), k = name(family.k(), l), v = name(family.v(), l);
            out.add(matrix(q, qw, d, (r, o) -> qRow(layer, r, o, p)));
            if (biases) out.add(gaussianVector(bias(q), qw, BIAS_STD));
            out.add(matrix(k, kw, d, (r, o) -> kRow(layer, r, o, p)));
            if (biases) out.add(gaussianVector(bias(k), kw, BIAS_STD));
            out.add(matrix(v, kw, d, (r, o) -> vRow(layer, r, o)));
            if (biases) out.add(gaussianVector(bias(v), kw, BIAS_STD));
            out.add(matrix(name(family.o(), l), d, qw, (r, o) -> oRow(layer, r, o)));
            out.add(matrix(name(more.mlpGate(), l), dm, d, (r, o) -> gateRow(layer, r, o, p)));
            out.add(matrix(name(family.mlpIn(), l), dm, d, (r, o) -> upRow(layer, r, o)));
            out.add(matrix(name(family.mlpOut(), l), d, dm, (r, o) -> downRow(layer, r, o, p)));
            if (normless) continue;
            out.add(norm(name(family.ln1Weight(), l), 1));
            if (sandwich) out.add(norm(name(more.postAttentionNorm(), l), l == 0 ? p.attentionNorm() : 1));
            out.add(norm(name(family.ln2Weight(), l), 1));
            if (sandwich) out.add(norm(name(more.postMlpNorm(), l), l == 0 ? residualRms : 1));
        }
        if (!normless) out.add(norm(family.prefix() + family.finalNormWeight(), 1));
        if (!tied) out.add(matrix(family.unembed(), dims.vocab(), d, this::embedRow));   // the embedding's values
        return out;
    }

    private static Spec matrix(String name, int rows, int cols, Rows source) {
        return new Spec(name, new long[] {rows, cols}, rows, cols, source);
    }

    private Spec gaussianVector(String name, int n, double std) {
        long s = CounterDraws.stream(seed, name);
        return new Spec(name, new long[] {n}, 1, n, (r, o) -> gaussian(s, 0, o, std));
    }

    /** A norm weight that acts as {@code target·(1 + 0.05·N)} (stored: that, or that − 1 where it acts as 1 + w). */
    private Spec norm(String name, double target) {
        return new Spec(name, new long[] {d}, 1, d, (r, o) -> normStored(name, target, o));
    }

    private void normStored(String name, double target, float[] out) {
        long s = CounterDraws.stream(seed, name);
        for (int c = 0; c < out.length; c++) out[c] = (float) (target * (1 + NORM_STD * CounterDraws.normal(s, c)) - (plusOne ? 1 : 0));
    }

    /** A norm weight as it acts (the stored float, Gemma's 1 + w, OLMo's 1), in double; {@code pattern}: its name without the prefix. */
    private double[] normActing(String pattern, double target) {
        double[] g = new double[d];
        if (normless) {
            java.util.Arrays.fill(g, 1);
            return g;
        }
        float[] w = new float[d];
        normStored(family.prefix() + pattern, target, w);
        for (int c = 0; c < d; c++) g[c] = (plusOne ? 1 : 0) + (double) w[c];
        return g;
    }

    /** out[c] = std·N(stream, r·cols + c). */
    private static void gaussian(long stream, int r, float[] out, double std) {
        long base = (long) r * out.length;
        float s = (float) std;
        for (int c = 0; c < out.length; c++) out[c] = s * CounterDraws.normal(stream, base + c);
    }

    private void gaussian(String tensor, int r, float[] out, double std) {
        gaussian(CounterDraws.stream(seed, tensor), r, out, std);
    }

    /** Embedding row t (and the untied unembedding's): N(0, 0.02²), and μ on the bias coordinate. */
    private void embedRow(int t, float[] out) {
        gaussian(family.prefix() + family.embed(), t, out, EMBED_STD);
        out[BIAS] = (float) mu;
    }

    /** out[c] = factor·R[c][i] / g1[c]: a planted W_Q, W_K or W_V column as a q/k/v_proj row. */
    private static void plantedRow(Group g, int i, double factor, float[] out) {
        for (int c = 0; c < out.length; c++) out[c] = (float) (factor * g.r(c, i) / g.g1[c]);
    }

    private void qRow(int l, int r, float[] out, Plan p) {
        Group g = byQuery[l][r / dh];
        if (g != null) plantedRow(g, r % dh, p.alphaQ()[g.index], out);
        else gaussian(name(family.q(), l), r, out, 1 / Math.sqrt(d));
    }

    private void kRow(int l, int r, float[] out, Plan p) {
        Group g = byKv[l][r / dh];
        if (g != null) plantedRow(g, r % dh, p.alphaK()[g.index], out);
        else gaussian(name(family.k(), l), r, out, 1 / Math.sqrt(d));
    }

    /** v_proj row r; layer 0's never read the bias coordinate. */
    private void vRow(int l, int r, float[] out) {
        Group g = byKv[l][r / dh];
        if (g != null) plantedRow(g, r % dh, 1, out);
        else gaussian(name(family.v(), l), r, out, 1 / Math.sqrt(d));
        if (l == 0) out[BIAS] = 0;
    }

    /** o_proj row c [H·d_h]: planted heads' columns −γ·R[c][·]; layer 0's random part scaled, never writing the bias coordinate. */
    private void oRow(int l, int c, float[] out) {
        if (l == 0 && c == BIAS) {
            java.util.Arrays.fill(out, 0f);
            return;
        }
        int qw = dims.qWidth();
        gaussian(name(family.o(), l), c, out, l == 0 ? LAYER0_ATTENTION * residualRms / Math.sqrt(qw) : 1 / Math.sqrt(qw));
        for (int h = 0; h < heads; h++) {
            Group g = byQuery[l][h];
            if (g == null) continue;
            double gamma = l == 0 ? LAYER0_PLANT * residualRms / g.queries.size() : 1;
            for (int i = 0; i < dh; i++) out[h * dh + i] = (float) (-gamma * g.r(c, i));
        }
    }

    /** gate_proj row k: layer 0 reads the bias coordinate alone, with weight β. */
    private void gateRow(int l, int k, float[] out, Plan p) {
        if (l == 0) {
            java.util.Arrays.fill(out, 0f);
            out[BIAS] = (float) p.beta();
        } else {
            gaussian(name(family.more().mlpGate(), l), k, out, 1 / Math.sqrt(d));
        }
    }

    /** up_proj row k: layer 0's never reads the bias coordinate. */
    private void upRow(int l, int k, float[] out) {
        gaussian(name(family.mlpIn(), l), k, out, 1 / Math.sqrt(d));
        if (l == 0) out[BIAS] = 0;
    }

    /** up_proj[k][c] of layer 0, as written. */
    private float up0(long stream, int k, int c) {
        return c == BIAS ? 0f : (float) (1 / Math.sqrt(d)) * CounterDraws.normal(stream, (long) k * d + c);
    }

    /** down_proj row j [d_mlp]: layer 0's is the factor times up_proj's column j (so zero on the bias coordinate). */
    private void downRow(int l, int j, float[] out, Plan p) {
        if (l != 0) {
            gaussian(name(family.mlpOut(), l), j, out, 1 / Math.sqrt(dm));
            return;
        }
        long up = CounterDraws.stream(seed, name(family.mlpIn(), 0));
        for (int k = 0; k < dm; k++) out[k] = (float) (p.down() * up0(up, k, j));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Writing
    // ------------------------------------------------------------------------------------------------------------

    /** Calibrates, then writes every tensor to the safetensors file {@code file} (atomically). */
    Written writeSafetensors(Path file, int threads) throws IOException {
        ForkJoinPool pool = new ForkJoinPool(Math.max(1, threads));
        Plan plan;
        try {
            plan = pool.submit(this::calibrate).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while calibrating the planted heads", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            if (e.getCause() instanceof Error err) throw err;
            throw new IOException(e.getCause());
        } finally {
            pool.shutdown();
        }
        SafetensorsWriter w = new SafetensorsWriter().parallelism(threads);
        w.metadata("format", "pt");
        w.metadata("headscan.synth.seed", Long.toString(seed));
        w.metadata("headscan.synth.plant", String.join(",", SyntheticGpt2.names(planted)));
        long parameters = 0;
        List<Spec> specs = specs(plan);
        for (Spec s : specs) {
            w.add(s.name(), dtype, s.shape(), seg -> fill(seg, s));
            parameters += (long) s.rows() * s.cols();
        }
        w.write(file);
        return new Written(specs.size(), parameters);
    }

    /** Elements per block of rows filled by one task. */
    private static final int BLOCK_ELEMENTS = 1 << 16;

    /** A tensor's rows computed in parallel blocks, converted to the stored type and copied into its slice. */
    private void fill(MemorySegment seg, Spec s) {
        int cols = s.cols(), block = Math.max(1, BLOCK_ELEMENTS / Math.max(1, cols));
        long rowBytes = (long) cols * dtype.bytes();
        IntStream.range(0, (s.rows() + block - 1) / block).parallel().forEach(b -> {
            float[] v = new float[cols];
            short[] half = dtype == DType.F32 ? null : new short[cols];
            for (int r = b * block, end = Math.min(s.rows(), r + block); r < end; r++) {
                s.source().row(r, v);
                if (half == null) {
                    MemorySegment.copy(v, 0, seg, SafetensorsFile.F32_LE, r * rowBytes, cols);
                    continue;
                }
                if (dtype == DType.F16) for (int c = 0; c < cols; c++) half[c] = Float.floatToFloat16(v[c]);
                else for (int c = 0; c < cols; c++) half[c] = SyntheticGpt2.toBfloat16(v[c]);
                MemorySegment.copy(half, 0, seg, SafetensorsFile.I16_LE, r * rowBytes, cols);
            }
        });
    }

    // ------------------------------------------------------------------------------------------------------------
    // Calibration: layer 0, U and the planted heads' diagonal as the family's model computes them
    // ------------------------------------------------------------------------------------------------------------

    private Plan calibrate() {
        int[] tokens = calibrationTokens();
        int n = tokens.length;
        double[] g1 = normActing(family.ln1Weight() == null ? null : Family.at(family.ln1Weight(), 0), 1);
        double[] g2 = normActing(family.ln2Weight() == null ? null : Family.at(family.ln2Weight(), 0), 1);
        double[] gf = normActing(family.finalNormWeight(), 1);
        double[][] e = new double[n][], x = new double[n][], y1 = new double[n][];
        float[] row = new float[d];
        for (int t = 0; t < n; t++) {
            embedRow(tokens[t], row);
            e[t] = new double[d];
            x[t] = new double[d];
            for (int c = 0; c < d; c++) {
                e[t][c] = row[c];
                x[t][c] = embedScale * row[c];
            }
            y1[t] = times(norm(x[t]), g1);
        }
        // layer-0 attention, every token attending to itself: all key/value heads' values, then each query head's W_O
        int qw = dims.qWidth(), kw = dims.kvWidth();
        double[][] v = new double[n][kw], vq = new double[n][qw], a = new double[n][d];
        eachRow(kw, d, (r, w) -> vRow(0, r, w), (r, w) -> {
            for (int t = 0; t < n; t++) v[t][r] = dot(w, y1[t]);
        });
        for (int t = 0; t < n; t++) for (int q = 0; q < qw; q++) vq[t][q] = v[t][dims.kvHead(q / dh) * dh + q % dh];
        eachRow(d, qw, (c, w) -> oRow(0, c, w), (c, w) -> {
            for (int t = 0; t < n; t++) a[t][c] = dot(w, vq[t]);
        });
        double attentionNorm = 1;
        if (sandwich) {   // Gemma-2's post_attention_layernorm, set to keep the attention output's size
            attentionNorm = meanRms(a);
            double[] gpa = normActing(Family.at(family.more().postAttentionNorm(), 0), attentionNorm);
            for (int t = 0; t < n; t++) a[t] = times(rms(a[t]), gpa);
        }
        double[][] y2 = new double[n][];
        double gateMean = 0;
        for (int t = 0; t < n; t++) {
            double[] r = write(x[t]), at = write(a[t]);
            for (int c = 0; c < d; c++) r[c] += at[c];
            y2[t] = times(norm(r), g2);
            gateMean += y2[t][BIAS] / n;
        }
        // MLP0: act(β·y₀) · up(y), then down = c·upᵀ (found with c = 1, then scaled)
        double beta = GATE_INPUT / gateMean;
        float betaStored = (float) beta;
        double[][] z = new double[n][dm];
        double[] gate = new double[n];
        for (int t = 0; t < n; t++) gate[t] = act.apply(y2[t][BIAS] * betaStored);
        eachRow(dm, d, (k, w) -> upRow(0, k, w), (k, w) -> {
            for (int t = 0; t < n; t++) z[t][k] = gate[t] * dot(w, y2[t]);
        });
        double[][] m = new double[n][d];
        long up = CounterDraws.stream(seed, name(family.mlpIn(), 0));
        eachColumnBlock(d, (c0, c1) -> {
            float[] w = new float[c1 - c0];
            for (int k = 0; k < dm; k++) {
                for (int c = c0; c < c1; c++) w[c - c0] = up0(up, k, c);
                for (int t = 0; t < n; t++) {
                    double zk = z[t][k];
                    double[] mt = m[t];
                    for (int c = c0; c < c1; c++) mt[c] += zk * w[c - c0];
                }
            }
        });
        double down = residualRms / meanRms(m);
        double[][] wee = new double[n][];
        double[] gpf = sandwich ? normActing(Family.at(family.more().postMlpNorm(), 0), residualRms) : null;
        for (int t = 0; t < n; t++) {
            for (int c = 0; c < d; c++) m[t][c] *= down;
            wee[t] = write(sandwich ? times(rms(m[t]), gpf) : m[t]);   // hackathon W_EE: MLP0's output
        }
        // U[:, t]: the final norm folded in, centred over d (OLMo), over the vocabulary unless the logits are soft-capped
        double[] vocabMean = family.more().finalSoftcap() == null ? vocabMean() : null;
        double[][] u = new double[n][];
        for (int t = 0; t < n; t++) {
            double[] ut = times(e[t], gf);
            if (vocabMean != null) for (int c = 0; c < d; c++) ut[c] -= gf[c] * vocabMean[c];
            u[t] = write(ut);
        }
        double[] alphaQ = new double[groups.size()], alphaK = new double[groups.size()];
        for (Group g : groups) {
            double[] diag = new double[n];
            for (int t = 0; t < n; t++) {
                double[] pu = project(g, u[t]), pk = project(g, wee[t]);
                for (int i = 0; i < dh; i++) diag[t] += pu[i] * pk[i];
            }
            double product = diagonalProduct(diag);
            alphaK[g.index] = Math.sqrt(Math.abs(product));
            alphaQ[g.index] = Math.signum(product) * alphaK[g.index];
        }
        return new Plan(beta, down, attentionNorm, alphaQ, alphaK);
    }

    /**
     * α_Q·α_K such that the mean over tokens of softcap(scale·α_Q·α_K·diag_t) is the planted logit: the plain ratio
     * without soft-capping, else by bisection (the ratio when the cap makes the logit unreachable).
     */
    private double diagonalProduct(double[] diag) {
        double target = SyntheticGpt2.PLANT_DIAGONAL_LOGIT, mean = 0;
        for (double x : diag) mean += x / diag.length;
        double sign = mean < 0 ? -1 : 1, plain = target / (attnScale * Math.max(1e-30, Math.abs(mean)));
        if (attnCap <= 0) return sign * plain;
        java.util.function.DoubleUnaryOperator capped = p -> {
            double s = 0;
            for (double x : diag) s += attnCap * Math.tanh(attnScale * sign * p * x / attnCap);
            return s / diag.length;
        };
        double lo = 0, hi = plain;
        for (int i = 0; i < 60 && capped.applyAsDouble(hi) < target; i++) hi *= 2;
        if (capped.applyAsDouble(hi) < target) return sign * plain;
        for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
            double mid = (lo + hi) / 2;
            if (capped.applyAsDouble(mid) < target) lo = mid; else hi = mid;
        }
        return sign * (lo + hi) / 2;
    }

    /** Rᵀx [d_h] of a planted group. */
    private double[] project(Group g, double[] x) {
        double[] out = new double[dh];
        for (int c = 0; c < d; c++) {
            if (c == BIAS) continue;
            for (int i = 0; i < dh; i++) out[i] += x[c] * g.r(c, i);
        }
        return out;
    }

    /** The embedding's mean row over the vocabulary, in double (as headscan's VocabMean), column blocks in parallel. */
    private double[] vocabMean() {
        double[] mean = new double[d];
        long s = CounterDraws.stream(seed, family.prefix() + family.embed());
        float std = (float) EMBED_STD;
        int vocab = dims.vocab();
        eachColumnBlock(d, (c0, c1) -> {
            for (int t = 0; t < vocab; t++) {
                long base = (long) t * d;
                for (int c = c0; c < c1; c++) mean[c] += c == BIAS ? (float) mu : std * CounterDraws.normal(s, base + c);
            }
            for (int c = c0; c < c1; c++) mean[c] /= vocab;
        });
        return mean;
    }

    @FunctionalInterface
    private interface RowUse {
        void use(int r, float[] row);
    }

    @FunctionalInterface
    private interface ColumnBlock {
        void run(int c0, int c1);
    }

    /** Each row r of a [rows, cols] tensor computed by {@code source} and given to {@code use}, blocks of rows in parallel. */
    private static void eachRow(int rows, int cols, Rows source, RowUse use) {
        int block = Math.max(1, BLOCK_ELEMENTS / Math.max(1, cols));
        IntStream.range(0, (rows + block - 1) / block).parallel().forEach(b -> {
            float[] w = new float[cols];
            for (int r = b * block, end = Math.min(rows, r + block); r < end; r++) {
                source.row(r, w);
                use.use(r, w);
            }
        });
    }

    /** [0, n) in blocks of 64 columns, in parallel. */
    private static void eachColumnBlock(int n, ColumnBlock task) {
        int block = 64;
        IntStream.range(0, (n + block - 1) / block).parallel().forEach(b -> task.run(b * block, Math.min(n, b * block + block)));
    }

    /** w·y in double, four partial sums (the same order whatever the thread). */
    private static double dot(float[] w, double[] y) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 3 < w.length; i += 4) {
            s0 += w[i] * y[i];
            s1 += w[i + 1] * y[i + 1];
            s2 += w[i + 2] * y[i + 2];
            s3 += w[i + 3] * y[i + 3];
        }
        for (; i < w.length; i++) s0 += w[i] * y[i];
        return (s0 + s1) + (s2 + s3);
    }

    private static double[] times(double[] x, double[] g) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] * g[i];
        return out;
    }

    /** The block's norm without its weight: RMSNorm, or OLMo's lnpre. */
    private double[] norm(double[] x) {
        return rms(write(x));
    }

    /** What writing to the residual does: centring over d where the norms are LayerNorms (OLMo), else nothing. */
    private double[] write(double[] x) {
        if (!normless) return x.clone();
        double m = 0;
        for (double v : x) m += v;
        m /= x.length;
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] - m;
        return out;
    }

    /** x / sqrt(mean(x²) + ε). */
    private double[] rms(double[] x) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double s = Math.sqrt(ss / x.length + eps);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] / s;
        return out;
    }

    private static double meanRms(double[][] rows) {
        double sum = 0;
        for (double[] r : rows) {
            double ss = 0;
            for (double v : r) ss += v * v;
            sum += Math.sqrt(ss / r.length);
        }
        return sum / rows.length;
    }

    // ------------------------------------------------------------------------------------------------------------
    // config.json
    // ------------------------------------------------------------------------------------------------------------

    /** The family's config.json keys as its transformers config class saves them (the common tail is the caller's). */
    ObjectNode config() {
        ObjectNode n = io.headscan.Json.MAPPER.createObjectNode();
        n.putArray("architectures").add(switch (family.modelType()) {
            case "llama" -> "LlamaForCausalLM";
            case "mistral" -> "MistralForCausalLM";
            case "qwen2" -> "Qwen2ForCausalLM";
            case "gemma" -> "GemmaForCausalLM";
            case "gemma2" -> "Gemma2ForCausalLM";
            case "olmo" -> "OlmoForCausalLM";
            default -> throw new IllegalStateException("no architecture for " + family.label());
        });
        n.put("model_type", family.modelType());
        n.put("vocab_size", dims.vocab());
        n.put("hidden_size", d);
        n.put("intermediate_size", dm);
        n.put("num_hidden_layers", dims.layers());
        n.put("num_attention_heads", heads);
        n.put("num_key_value_heads", kvHeads);
        if (headDimInConfig(family)) n.put("head_dim", dh);
        n.put(family.keys().activation().getFirst(), act == Activation.SILU ? "silu" : "gelu_pytorch_tanh");
        n.put("max_position_embeddings", dims.nCtx());
        if (!normless) n.put("rms_norm_eps", eps);
        n.put("rope_theta", family == Family.QWEN2 ? 1000000.0 : 10000.0);
        n.put("attention_dropout", 0.0);
        if (family != Family.MISTRAL && family != Family.QWEN2) n.put("attention_bias", false);
        n.put("initializer_range", 0.02);
        n.put("tie_word_embeddings", tied);
        n.put("use_cache", true);
        int last = dims.vocab() - 1;
        switch (family.modelType()) {
            case "llama" -> {
                n.put("mlp_bias", false);
                n.put("pretraining_tp", 1);
                n.put("bos_token_id", Math.min(1, last));
                n.put("eos_token_id", Math.min(2, last));
            }
            case "mistral" -> {
                n.putNull("sliding_window");
                n.put("bos_token_id", Math.min(1, last));
                n.put("eos_token_id", Math.min(2, last));
            }
            case "qwen2" -> {
                n.put("use_sliding_window", false);
                n.put("sliding_window", dims.nCtx());
                n.put("max_window_layers", dims.layers());
                n.put("bos_token_id", last);
                n.put("eos_token_id", last);
            }
            case "gemma", "gemma2" -> {
                if (sandwich) {
                    n.put("query_pre_attn_scalar", dh);
                    n.put("attn_logit_softcapping", GEMMA2_ATTN_SOFTCAP);
                    n.put("final_logit_softcapping", GEMMA2_FINAL_SOFTCAP);
                    n.put("sliding_window", Math.min(4096, dims.nCtx()));
                    n.put("cache_implementation", "hybrid");
                }
                n.put("pad_token_id", 0);
                n.put("bos_token_id", Math.min(2, last));
                n.put("eos_token_id", Math.min(1, last));
            }
            case "olmo" -> {
                n.putNull("clip_qkv");
                n.put("pad_token_id", Math.min(1, last));
                n.put("eos_token_id", last);
            }
            default -> throw new IllegalStateException("no config for " + family.label());
        }
        return n;
    }
}
