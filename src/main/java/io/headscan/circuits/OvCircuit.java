package io.headscan.circuits;

import io.headscan.compute.kernels.RowAffine;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.compute.Transpose;
import io.headscan.compute.kernels.RowReducer;
import io.headscan.model.Weight;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;

/**
 * OV statistics (docs/science.md §5). Per head, for source token s:
 * {@code o_s = ((W_EE[s] * g1) @ Wv) @ Wo} and logits {@code M[s, j] = o_s · U[:, j]}, kept factored as
 * {@code Z·Pᵀ} with Z = (W_EE * g1) @ Wv and P = Uᵀ @ Woᵀ ([V, d_h] each).
 * Negative rank: #{j : M[s, j] < M[s, s]} (0 = s is the most suppressed token); positive rank:
 * #{j : M[s, j] > M[s, s]}. IOI copy scores use the static form of the ARENA IOI exercises:
 * {@code logits± = lnpre(±o_s) @ U + b_U}, b_U = (E @ bf) − its mean over V, W_EE variant noattn.
 */
public final class OvCircuit implements AutoCloseable {

    /** Negative and positive copying rank statistics of one head. */
    public record HeadStats(HeadId head, RankStatistics negative, RankStatistics positive) {}

    /** A token and the logit change it receives. */
    public record Pushed(int token, double logit) {}

    /** Fractions of names whose own token is in the top 5 of logits+ (copy) and logits− (negative copy). */
    public record CopyScores(HeadId head, int names, double copyScore, double negativeCopyScore) {}

    private final Model model;
    private final Backend backend;
    private final Matrix wee;
    private final Unembedding unembedding;
    private final HeadFactors factors;
    private final RowReducer reducer = RowReducer.best();
    private final FactoredScores.Timing timing = new FactoredScores.Timing();
    private final FactoredScores.Buffers buffers = new FactoredScores.Buffers();

    /** @param wee the full-vocabulary effective embedding [V, d] used for the rank statistics */
    public OvCircuit(Model model, Backend backend, Matrix wee) {
        this.model = model;
        this.backend = backend;
        this.wee = wee;
        this.unembedding = new Unembedding(model);
        this.factors = new HeadFactors(model, backend, unembedding);
    }

    /** The head whose factors the buffers hold now ({@link #ranks} then {@link #pushed} use the same ones). */
    private HeadId factorsOf;
    private Matrix[] factorsNow;
    /** A name copies when fewer than this many other tokens get a larger logit (top 5, as in the ARENA exercises). */
    private static final int TOP = 5;

    /** Inserts x into a descending array, dropping its smallest entry. */
    private static void insert(float[] top, float x) {
        int i = top.length - 1;
        while (i > 0 && top[i - 1] < x) {
            top[i] = top[i - 1];
            i--;
        }
        top[i] = x;
    }

    /** b_U, the same for every head: computed once. */
    private float[] unembeddingBias;
    /** W_EE (noattn) of the last names {@link #copyScores} was given: the same for every head, computed once. */
    private final Arena namesArena = Arena.ofShared();
    private int[] namesOf;
    private Matrix namesWee;

    /** The factors Z and P of one head, in the reused buffers (computed once per head). */
    private Matrix[] factors(HeadId h) {
        if (h.equals(factorsOf)) return factorsNow;
        int v = model.dims().vocab(), dh = model.dims().dHead();
        Matrix z = buffers.factor(true, v, dh);
        Matrix p = buffers.factor(false, v, dh);
        factors.fromEffectiveEmbedding(wee, h.layer(), model.wv(h), z);
        factors.fromUnembedding(HeadFactors.UNSCALED, model.wo(h), Transpose.YES, p);
        factorsOf = h;
        factorsNow = new Matrix[] {z, p};
        return factorsNow;
    }

    /** Frees the per-layer buffers. */
    @Override
    public void close() {
        factors.close();
        buffers.close();
        namesArena.close();
    }

    /** W_EE (noattn) of the names, computed on the first call for them (layer 0 alone, before the head's own layer). */
    private synchronized Matrix namesWee(int[] names) {
        if (namesWee == null || !Arrays.equals(namesOf, names)) {
            int d = model.dims().dModel();
            if (namesWee == null || namesWee.rows() != names.length) namesWee = Matrix.allocate(namesArena, names.length, d);
            namesOf = null;   // until the rows are whole: a failed computation leaves nothing that looks cached
            new EffectiveEmbedding(model, backend, Variant.NOATTN).compute(names, namesWee, Progress.NONE);
            namesOf = names.clone();
        }
        return namesWee;
    }

    /** Bytes moved between host and device so far: [factors, logits] (zero on CPU backends). */
    public Backend.Transfers[] phaseBytes() {
        return timing.bytes();
    }

    /** The reduction that runs (the host kernel's name, or the device's path and why). */
    public String kernel() {
        return FactoredScores.kernel(backend, reducer);
    }

    /** Milliseconds spent so far in the logit GEMMs, the fused reductions and the factors. */
    public double[] phaseMs() {
        return new double[] {timing.gemmMs(), timing.reduceMs(), timing.factorMs()};
    }

    public HeadStats ranks(HeadId h, Progress progress) {
        h.checkIn(model.dims());
        if (FactoredScores.factorsOnDevice(backend)) {   // a GPU forms Z and P itself: only per-row results come back
            HeadFactors.DeviceOperand z = factors.deviceOperand(h.layer(), model.wv(h), Transpose.NO, 0);
            HeadFactors.DeviceOperand p = factors.deviceOperand(HeadFactors.UNSCALED, model.wo(h), Transpose.YES, 1);
            FactoredScores.RowResults rows = FactoredScores.reduceFactored(backend, factors.inWorkspace(wee), z.g(), z.w(),
                    z.t(), factors.uInWorkspace(), p.g(), p.w(), p.t(), 1f, progress, timing);
            return new HeadStats(h, RankStatistics.of(rows.less()), RankStatistics.of(rows.greater()));
        }
        long f0 = System.nanoTime();
        Backend.Transfers b0 = backend.transfers();
        Matrix[] zp = factors(h);
        timing.factorNanos.addAndGet(System.nanoTime() - f0);
        Backend.Transfers b1 = backend.transfers();
        timing.addFactorBytes(b1.minus(b0));
        FactoredScores.RowResults rows = FactoredScores.reduce(backend, zp[0], zp[1], 1f, progress, reducer, timing, buffers);
        timing.addScoreBytes(backend.transfers().minus(b1));
        return new HeadStats(h, RankStatistics.of(rows.less()), RankStatistics.of(rows.greater()));
    }

    /**
     * The tokens a head pushes most (largest logit change) and least (most negative), for one source
     * token, or averaged over all source tokens when {@code source < 0}.
     */
    public List<List<Pushed>> pushed(HeadId h, int source, int k) {
        h.checkIn(model.dims());
        int v = model.dims().vocab(), d = model.dims().dModel();
        if (source >= v) throw new IllegalArgumentException("--token " + source + " is outside the vocabulary [0, " + v + ")");
        // o = ((W_EE[s] * g1) @ Wv) @ Wo for one source, or its mean over all sources (linear: the mean of W_EE's rows)
        double[] src = new double[d];
        if (source >= 0) {
            float[] row = new float[d];
            Rows.read(wee, source, row);
            for (int i = 0; i < d; i++) src[i] = row[i];
        } else {
            src = weeMean();
        }
        float[] g1 = factors.g1(h);
        for (int i = 0; i < d; i++) src[i] *= g1[i];
        double[] o = multiply(multiply(src, model.wv(h)), model.wo(h));
        float[] l = new float[v];
        try (Arena arena = Arena.ofConfined()) {
            Matrix x = Matrix.allocate(arena, 1, d);
            for (int i = 0; i < d; i++) x.set(0, i, (float) o[i]);
            unembedding.logits(backend, x, (t0, tile) -> {
                for (int i = 0; i < tile.rows(); i++) l[t0 + i] = tile.get(i, 0);
            });
        }
        Integer[] idx = IntStream.range(0, v).boxed().toArray(Integer[]::new);
        Arrays.sort(idx, Comparator.comparingDouble(i -> -l[i]));
        List<Pushed> up = new ArrayList<>(), down = new ArrayList<>();
        for (int i = 0; i < Math.min(k, v); i++) {
            up.add(new Pushed(idx[i], l[idx[i]]));
            down.add(new Pushed(idx[v - 1 - i], l[idx[v - 1 - i]]));
        }
        return List.of(up, down);
    }

    /** x @ w for a row vector x and a [len(x), k] matrix w, in double. */
    private static double[] multiply(double[] x, Weight w) {
        double[] out = new double[w.cols()];
        for (int i = 0; i < x.length; i++) {
            for (int j = 0; j < out.length; j++) out[j] += x[i] * w.get(i, j);
        }
        return out;
    }

    /** The mean of W_EE's rows (the same for every head: computed once). */
    private double[] weeMean;

    private double[] weeMean() {
        if (weeMean == null) {
            int v = wee.rows(), d = wee.cols();
            double[] acc = new double[d];
            float[] row = new float[d];
            for (int s = 0; s < v; s++) {
                Rows.read(wee, s, row);
                for (int j = 0; j < d; j++) acc[j] += row[j];
            }
            for (int j = 0; j < d; j++) acc[j] /= v;
            weeMean = acc;
        }
        return weeMean.clone();
    }

    /** IOI copy and negative copy scores over name tokens (docs/science.md §5). */
    public CopyScores copyScores(HeadId h, int[] names) {
        h.checkIn(model.dims());
        int v = model.dims().vocab(), d = model.dims().dModel(), dh = model.dims().dHead(), n = names.length;
        if (n == 0) throw new IllegalArgumentException("no names to score");
        for (int t : names) {
            if (t < 0 || t >= v) throw new IllegalArgumentException("name token " + t + " is outside the vocabulary [0, " + v + ")");
        }
        try (Arena arena = Arena.ofShared()) {
            Matrix weeNames = Matrix.allocate(arena, n, d);
            RowAffine.scaled(factors.g1(h)).apply(namesWee(names), null, weeNames);
            Matrix zv = Matrix.allocate(arena, n, dh);
            Weight wv = model.wv(h), wo = model.wo(h);
            backend.gemm(1f, weeNames, Transpose.NO, wv.stored(), Transpose.of(wv.transposed()), 0f, zv);
            Matrix o = Matrix.allocate(arena, 2 * n, d);
            backend.gemm(1f, zv, Transpose.NO, wo.stored(), Transpose.of(wo.transposed()), 0f, o.rows(0, n));
            // the final norm without its weight (folded into U): lnpre, or rms in RMSNorm families
            RowAffine.Norm fn = model.centredWriting() ? RowAffine.Norm.LNPRE : RowAffine.Norm.RMS;
            RowAffine.normalize(fn, model.eps(), d, -1f, null, null).apply(o.rows(0, n), null, o.rows(n, n));
            RowAffine.normalize(fn, model.eps(), d, 1f, null, null).apply(o.rows(0, n), null, o.rows(0, n));
            // logits [V, 2n] = Uᵀ @ lnpre(±o)ᵀ + b_U, in tiles over the vocabulary; each name's own logit from the same
            // product as the entries it is compared with
            float[] bu = unembeddingBias();
            // one pass: each name's own logit, and per column the 5 largest logits of other tokens (a name copies when
            // fewer than 5 others are above its own)
            float[] own = new float[2 * n];
            float[][] top = new float[2 * n][TOP];
            for (float[] t : top) Arrays.fill(t, Float.NEGATIVE_INFINITY);
            unembedding.logits(backend, o, (t0, tile) -> {
                for (int i = 0; i < tile.rows(); i++) {
                    int token = t0 + i;
                    for (int c = 0; c < 2 * n; c++) {
                        float x = tile.get(i, c) + bu[token];
                        if (token == names[c % n]) own[c] = x;
                        else if (x > top[c][TOP - 1]) insert(top[c], x);
                    }
                }
            });
            int[] above = new int[2 * n];
            for (int c = 0; c < 2 * n; c++) for (float x : top[c]) if (x > own[c]) above[c]++;
            int copy = 0, negCopy = 0;
            for (int a = 0; a < n; a++) {
                if (above[a] < TOP) copy++;
                if (above[n + a] < TOP) negCopy++;
            }
            return new CopyScores(h, n, (double) copy / n, (double) negCopy / n);
        }
    }

    /**
     * b_U = (W_U @ bf + b) − its mean over V: the final norm's bias folded into the unembedding, plus the unembedding's
     * own bias where it has one (GPT-J's lm_head), centred (computed once).
     */
    public float[] unembeddingBias() {
        if (unembeddingBias == null) unembeddingBias = computeUnembeddingBias();
        return unembeddingBias;
    }

    private float[] computeUnembeddingBias() {
        int v = model.dims().vocab(), d = model.dims().dModel();
        float[] bf = model.finalNormBias();
        float[] b = model.unembeddingBias();
        float[] out = new float[v];
        if (bf == null && b == null) return out;   // RMSNorm families: no bias to fold, nothing to centre
        IntStream.range(0, v).parallel().forEach(t -> {
            float[] row = new float[d];
            model.tableRow(Model.Role.UNEMBED, t, row, new short[d]);   // F16/BF16: this row widened alone
            double s = 0;
            if (bf != null) for (int i = 0; i < d; i++) s += (double) row[i] * bf[i];
            out[t] = (float) (b == null ? s : s + b[t]);
        });
        double mean = 0;
        for (float x : out) mean += x;
        mean /= v;
        for (int t = 0; t < v; t++) out[t] -= (float) mean;
        return out;
    }
}
