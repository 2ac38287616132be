package io.headscan.circuits;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.compute.Transpose;
import io.headscan.compute.kernels.RowAffine;
import io.headscan.compute.kernels.RowReducer;
import java.lang.foreign.ValueLayout;
import io.headscan.model.Dims;
import io.headscan.model.Weight;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * The Prediction-Attention score (docs/science.md §3) for every head. For layer l, head h (no b_Q, no b_K;
 * ln_1 weight of layer l on both sides):
 * <pre>
 *   q_t = (U[:, t] * g1_l) @ Wq_{l,h}     k_s = (W_EE[s] * g1_l) @ Wk_{l,h}     S[t, s] = q_t·k_s / sqrt(d_h)
 *   P = softmax over s in B of S[t, s];   score(B) = mean over t in B of P[t, t]
 * </pre>
 * A head's score is the mean over the bags. Only the tokens that appear in the bags go through U, W_EE
 * and the projections (one GEMM per layer and side, all heads at once through the strided Q/K thirds of
 * c_attn); then each bag × head is one small GEMM and a row softmax.
 */
public final class PredictionAttention {

    /** Scores of every head. {@code scores[l][h]} is the mean over bags. */
    public record Result(double[][] scores, double[][] perBagStd, int bagCount, int bagSize, Variant variant,
                         Map<String, Double> timingsMs) {

        /**
         * Heads whose score cannot be trusted: those in {@code marked} (fed by non-finite weights) and any whose score
         * is NaN or infinite.
         */
        public java.util.Set<HeadId> unreliable(java.util.Set<HeadId> marked) {
            java.util.Set<HeadId> out = new java.util.TreeSet<>(marked);
            for (int l = 0; l < scores.length; l++) {
                for (int h = 0; h < scores[l].length; h++) if (!Double.isFinite(scores[l][h])) out.add(new HeadId(l, h));
            }
            return out;
        }

        /** score − mean over all heads (the writeup's Figure 3). */
        public double[][] centered() {
            return centered(java.util.Set.of());
        }

        /** score − mean over the reliable heads; unreliable heads (see {@link #unreliable}) are NaN and left out of the mean. */
        public double[][] centered(java.util.Set<HeadId> marked) {
            java.util.Set<HeadId> bad = unreliable(marked);
            double sum = 0;
            int n = 0;
            for (int l = 0; l < scores.length; l++) {
                for (int h = 0; h < scores[l].length; h++) {
                    if (!bad.contains(new HeadId(l, h))) {
                        sum += scores[l][h];
                        n++;
                    }
                }
            }
            double mean = n == 0 ? Double.NaN : sum / n;
            double[][] c = new double[scores.length][];
            for (int l = 0; l < scores.length; l++) {
                c[l] = new double[scores[l].length];
                for (int h = 0; h < scores[l].length; h++) c[l][h] = bad.contains(new HeadId(l, h)) ? Double.NaN : scores[l][h] - mean;
            }
            return c;
        }

        /** Heads from highest to lowest score. */
        public List<HeadId> ranking() {
            return ranking(java.util.Set.of());
        }

        /** Reliable heads from highest to lowest score, then the unreliable ones (in layer, head order). */
        public List<HeadId> ranking(java.util.Set<HeadId> marked) {
            java.util.Set<HeadId> bad = unreliable(marked);
            List<HeadId> all = IntStream.range(0, scores.length).boxed()
                    .flatMap(l -> IntStream.range(0, scores[l].length).mapToObj(h -> new HeadId(l, h))).toList();
            List<HeadId> out = new java.util.ArrayList<>(all.stream().filter(h -> !bad.contains(h))
                    .sorted((a, b) -> Double.compare(scores[b.layer()][b.head()], scores[a.layer()][a.head()])).toList());
            out.addAll(all.stream().filter(bad::contains).toList());
            return out;
        }

        /** 1/|B|: a head that attends uniformly. */
        public double uniformBaseline() {
            return 1.0 / bagSize;
        }
    }

    private final Model model;
    private final Backend backend;
    private final Variant variant;
    private final RowReducer reducer;

    public PredictionAttention(Model model, Backend backend, Variant variant) {
        this(model, backend, variant, true);
    }

    /**
     * @param finiteWeights false when the weights hold NaN or Inf (computing anyway): the bag scores then go through the
     *                      Java reducer, whose IEEE semantics hold for them (the C one assumes finite scores)
     */
    public PredictionAttention(Model model, Backend backend, Variant variant, boolean finiteWeights) {
        this.model = model;
        this.backend = backend;
        this.variant = variant;
        this.reducer = finiteWeights ? RowReducer.best() : io.headscan.compute.kernels.JavaRowReducer.INSTANCE;
    }

    /** Warms, in the background, the pages of every weight {@link #score} reads except E (see {@link Model#prefetch}). */
    public static void prefetch(Model model) {
        Dims dims = model.dims();
        List<String> names = new java.util.ArrayList<>(java.util.Arrays.asList(model.name(Model.Role.MLP_IN, 0), model.name(Model.Role.MLP_OUT, 0),
                model.name(Model.Role.MLP_GATE, 0)));
        names.addAll(model.attentionTensors(0));   // W_EE's attention term
        for (int l = 1; l < dims.layers(); l++) {
            names.add(model.name(Model.Role.Q, l));   // the rest: queries and keys only (fused layouts: the one tensor)
            names.add(model.name(Model.Role.K, l));
        }
        model.prefetch(names);
    }

    /** Scores every head over the bags (each bag: distinct token ids, all the same size). */
    public Result score(List<int[]> bags, Progress progress) {
        Dims dims = model.dims();
        int d = dims.dModel(), dh = dims.dHead();
        Bags.validate(bags, dims.vocab());
        int bagSize = bags.get(0).length;
        int[] tokens = bags.stream().flatMapToInt(Arrays::stream).distinct().sorted().toArray();
        int n = tokens.length;
        Map<String, Double> timings = new LinkedHashMap<>();
        double[][] sum = new double[dims.layers()][dims.heads()];
        double[][] sumSq = new double[dims.layers()][dims.heads()];
        try (Arena arena = Arena.ofShared()) {
            long t0 = System.nanoTime();
            Matrix u = Matrix.allocate(arena, n, d);
            new Unembedding(model).columns(tokens, u);
            long t1 = System.nanoTime();
            timings.put("unembedding", (t1 - t0) / 1e6);
            Matrix wee = Matrix.allocate(arena, n, d);
            new EffectiveEmbedding(model, backend, variant).compute(tokens, wee, Progress.NONE);
            long t2 = System.nanoTime();
            timings.put("effective_embedding", (t2 - t1) / 1e6);

            Matrix xq = Matrix.allocate(arena, n, d);
            Matrix xk = Matrix.allocate(arena, n, d);
            // every head's queries (keys) side by side, head h in columns h·dh .. (h + 1)·dh − 1, whatever the layout
            int heads = dims.heads(), wq = heads * dh, wk = heads * dh;
            Matrix q = Matrix.allocate(arena, n, wq);
            Matrix k = Matrix.allocate(arena, n, wk);
            // per bag: its Q and K rows, and S for all heads of a layer, [heads, B, B], reduced as heads·B rows of B
            int nb = bags.size();
            Matrix[] qb = new Matrix[nb], kb = new Matrix[nb];
            MemorySegment[] s = new MemorySegment[nb];
            for (int b = 0; b < nb; b++) {
                qb[b] = Matrix.allocate(arena, bagSize, wq);
                kb[b] = Matrix.allocate(arena, bagSize, wk);
                s[b] = arena.allocate((long) heads * bagSize * bagSize * 4, 64);
            }
            long[] diagCol = new long[heads * bagSize];
            for (int r = 0; r < diagCol.length; r++) diagCol[r] = r % bagSize;
            int[][] rows = new int[nb][];
            for (int b = 0; b < nb; b++) {
                rows[b] = new int[bagSize];
                for (int i = 0; i < bagSize; i++) rows[b][i] = Arrays.binarySearch(tokens, bags.get(b)[i]);
            }
            double projMs = 0, scoreMs = 0;
            progress.start("score", dims.layers(), "layers");
            for (int l = 0; l < dims.layers(); l++) {
                long p0 = System.nanoTime();
                float[] g1 = model.preAttentionNormWeight(l);
                scaleColumns(u, g1, xq);
                scaleColumns(wee, g1, xk);
                Model.HeadColumns qc = model.columns(l, Model.Kind.Q), kc = model.columns(l, Model.Kind.K);
                project(xq, qc, heads, dh, q, h -> h);
                project(xk, kc, heads, dh, k, dims::kvHead);   // grouped-query attention: head h's keys are its kv head's
                float scale = (float) model.attentionScale(l);
                long p1 = System.nanoTime();
                projMs += (p1 - p0) / 1e6;
                // many tiny GEMMs: one BLAS thread each, bags side by side on the cores
                int blasThreads = backend.threads();
                backend.setThreads(1);
                double[][] perBag = new double[nb][];
                try {
                    float cap = (float) model.attentionSoftcap();
                IntStream.range(0, nb).parallel().forEach(b -> perBag[b] = bagScores(q, k, rows[b], qb[b], kb[b], s[b], diagCol, reducer,
                            heads, bagSize, dh, scale, cap));
                } finally {
                    backend.setThreads(blasThreads);
                }
                for (int b = 0; b < nb; b++) {
                    for (int h = 0; h < heads; h++) {
                        sum[l][h] += perBag[b][h];
                        sumSq[l][h] += perBag[b][h] * perBag[b][h];
                    }
                }
                scoreMs += (System.nanoTime() - p1) / 1e6;
                progress.advance(1);
            }
            progress.done();
            timings.put("projections", projMs);
            timings.put("bag_scores", scoreMs);
        }
        int nb = bags.size();
        double[][] mean = new double[dims.layers()][dims.heads()];
        double[][] std = new double[dims.layers()][dims.heads()];
        for (int l = 0; l < dims.layers(); l++) {
            for (int h = 0; h < dims.heads(); h++) {
                mean[l][h] = sum[l][h] / nb;
                std[l][h] = Math.sqrt(Math.max(0, sumSq[l][h] / nb - mean[l][h] * mean[l][h]));
            }
        }
        return new Result(mean, std, nb, bagSize, variant, timings);
    }

    /**
     * The softmax attention matrix P[t, s] of one head over one bag (rows: queries, columns: keys),
     * as in the writeup's Figures 1–2.
     */
    public double[][] pattern(HeadId head, int[] bag) {
        Dims dims = model.dims();
        head.checkIn(dims);
        Bags.validate(List.of(bag), dims.vocab());
        int d = dims.dModel(), dh = dims.dHead(), n = bag.length;
        try (Arena arena = Arena.ofShared()) {
            Matrix u = Matrix.allocate(arena, n, d);
            new Unembedding(model).columns(bag, u);
            Matrix wee = Matrix.allocate(arena, n, d);
            new EffectiveEmbedding(model, backend, variant).compute(bag, wee, Progress.NONE);
            float[] g1 = model.preAttentionNormWeight(head.layer());
            scaleColumns(u, g1, u);
            scaleColumns(wee, g1, wee);
            Matrix q = Matrix.allocate(arena, n, dh);
            Matrix k = Matrix.allocate(arena, n, dh);
            Weight wq = model.wq(head), wk = model.wk(head);
            backend.gemm(1f, u, Transpose.NO, wq.stored(), Transpose.of(wq.transposed()), 0f, q);
            backend.gemm(1f, wee, Transpose.NO, wk.stored(), Transpose.of(wk.transposed()), 0f, k);
            Matrix s = Matrix.allocate(arena, n, n);
            backend.gemm((float) model.attentionScale(head.layer()), q, Transpose.NO, k, Transpose.YES, 0f, s);
            if (model.attentionSoftcap() > 0) io.headscan.compute.kernels.Elementwise.softcap(s, (float) model.attentionSoftcap());
            double[][] p = new double[n][n];
            for (int t = 0; t < n; t++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) max = Math.max(max, s.get(t, j));
                double z = 0;
                for (int j = 0; j < n; j++) z += (p[t][j] = Math.exp(s.get(t, j) - max));
                for (int j = 0; j < n; j++) p[t][j] /= z;
            }
            return p;
        }
    }

    /** One bag, all heads of a layer: mean over the bag of the softmax diagonal, per head. */
    private double[] bagScores(Matrix q, Matrix k, int[] rows, Matrix qb, Matrix kb,
                               MemorySegment s, long[] diagCol, RowReducer reducer, int heads, int bagSize, int dh, float scale, float cap) {
        gather(q, rows, qb);
        gather(k, rows, kb);
        backend.sgemmStridedBatched(Transpose.NO, Transpose.YES, bagSize, bagSize, dh, scale,
                qb.segment(), 0, qb.ld(), dh, kb.segment(), 0, kb.ld(), dh, 0f, s, 0, bagSize,
                (long) bagSize * bagSize, heads);
        int n = heads * bagSize;
        if (cap > 0) io.headscan.compute.kernels.Elementwise.softcap(Matrix.dense(s, n, bagSize), cap);   // S = c·tanh(S / c)
        float[] rowMax = new float[n];
        double[] rowSum = new double[n];
        long[] above = new long[n], below = new long[n];
        reducer.reduce(s, 0, n, bagSize, bagSize, diagCol, rowMax, rowSum, above, below);
        double[] out = new double[heads];
        for (int h = 0; h < heads; h++) {
            double total = 0;
            for (int t = 0; t < bagSize; t++) {
                int r = h * bagSize + t;
                float ref = s.getAtIndex(ValueLayout.JAVA_FLOAT, (long) r * bagSize + t);
                total += Math.exp(ref - rowMax[r]) / rowSum[r];
            }
            out[h] = total / bagSize;
        }
        return out;
    }

    /**
     * {@code out} [n, heads·dh] = x @ every head's block of a projection, heads side by side: one GEMM over the heads'
     * columns when they are packed (GPT-2's thirds of c_attn), one per head when other projections lie between them
     * (GPT-NeoX's fused query_key_value, ordered by head) or where heads share a block (keys under grouped-query
     * attention: {@code block} maps a query head to its key/value head): only the columns the score reads are computed.
     */
    private void project(Matrix x, Model.HeadColumns c, int heads, int dh, Matrix out, java.util.function.IntUnaryOperator block) {
        boolean identity = IntStream.range(0, heads).allMatch(h -> block.applyAsInt(h) == h);
        if (c.packed(dh) && identity) {
            Weight w = c.weight().columnBlock(c.base(), heads * dh);
            backend.gemm(1f, x, Transpose.NO, w.stored(), Transpose.of(w.transposed()), 0f, out);
            return;
        }
        for (int h = 0; h < heads; h++) {
            Weight w = c.weight().columnBlock(c.base() + block.applyAsInt(h) * c.stride(), dh);
            backend.gemm(1f, x, Transpose.NO, w.stored(), Transpose.of(w.transposed()), 0f, out.block(0, h * dh, out.rows(), dh));
        }
    }

    /** out[a, i] = in[a, i] * g[i]. */
    static void scaleColumns(Matrix in, float[] g, Matrix out) {
        RowAffine.scaled(g).apply(in, null, out);
    }

    private static void gather(Matrix src, int[] rows, Matrix dst) {
        long rowBytes = (long) src.cols() * Float.BYTES;
        for (int i = 0; i < rows.length; i++) {
            MemorySegment.copy(src.segment(), (src.offset() + (long) rows[i] * src.ld()) * 4, dst.segment(),
                    (dst.offset() + (long) i * dst.ld()) * 4, rowBytes);
        }
    }

}
