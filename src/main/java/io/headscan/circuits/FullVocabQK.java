package io.headscan.circuits;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.compute.Transpose;
import io.headscan.compute.kernels.RowReducer;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;

/**
 * Full-vocabulary QK statistics (docs/science.md §4): the same S[t, s] as the Prediction-Attention score,
 * every query token t against all V keys. {@code mean_diag_prob} is the full-vocabulary
 * Prediction-Attention score; rank_t = #{s : S[t, s] > S[t, t]} (0-based, strict).
 * Per head: Q = (Uᵀ * g1) @ W_Q and K = (W_EE * g1) @ W_K ([V, d_h] each, 12.9 MB for GPT-2), then S in
 * blocks of 128 query rows × 2048 keys, each reduced while in cache relative to its diagonal entry S[t, t]
 * (Σ exp(S − S[t, t]), whose inverse is the diagonal's softmax probability, and the rank counts): the V×V matrix,
 * 10 GB per head, never exists ({@link FactoredScores}).
 */
public final class FullVocabQK implements AutoCloseable {

    /** One head's statistics. */
    public record HeadStats(HeadId head, double meanDiagProb, RankStatistics ranks) {}

    private final Model model;
    private final Backend backend;
    private final Matrix wee;
    private final HeadFactors factors;
    private final RowReducer reducer = RowReducer.best();
    private final FactoredScores.Timing timing = new FactoredScores.Timing();
    private final FactoredScores.Buffers buffers = new FactoredScores.Buffers();

    /** @param wee the full-vocabulary effective embedding [V, d] of the chosen variant */
    public FullVocabQK(Model model, Backend backend, Matrix wee) {
        this.model = model;
        this.backend = backend;
        this.wee = wee;
        this.factors = new HeadFactors(model, backend, new Unembedding(model));
    }

    /** Which row kernel reduces the tiles ("native" or "java"). */
    public String kernel() {
        return FactoredScores.kernel(backend, reducer);
    }

    /** Milliseconds spent so far in the score GEMMs, the fused reductions and the factors. */
    public double[] phaseMs() {
        return new double[] {timing.gemmMs(), timing.reduceMs(), timing.factorMs()};
    }

    /** Bytes moved between host and device so far: [factors, scores] (zero on CPU backends). */
    public Backend.Transfers[] phaseBytes() {
        return timing.bytes();
    }

    /** Frees the per-layer buffers. */
    @Override
    public void close() {
        factors.close();
        buffers.close();
    }

    public HeadStats head(HeadId h, Progress progress) {
        h.checkIn(model.dims());
        int v = model.dims().vocab(), dh = model.dims().dHead();
        float cap = (float) model.attentionSoftcap();
        if (cap == 0 && FactoredScores.factorsOnDevice(backend)) {   // a GPU forms Q and K itself: only per-row results come back
            HeadFactors.DeviceOperand q = factors.deviceOperand(h.layer(), model.wq(h), Transpose.NO, 0);
            HeadFactors.DeviceOperand k = factors.deviceOperand(h.layer(), model.wk(h), Transpose.NO, 1);
            FactoredScores.RowResults rows = FactoredScores.reduceFactored(backend, factors.uInWorkspace(), q.g(), q.w(), q.t(), factors.inWorkspace(wee), k.g(),
                    k.w(), k.t(), (float) model.attentionScale(h.layer()), progress, timing);
            return stats(h, rows);
        }
        Matrix q = buffers.factor(true, v, dh);
        Matrix k = buffers.factor(false, v, dh);
        long f0 = System.nanoTime();
        Backend.Transfers b0 = backend.transfers();
        factors.fromUnembedding(h.layer(), model.wq(h), Transpose.NO, q);
        factors.fromEffectiveEmbedding(wee, h.layer(), model.wk(h), k);
        timing.factorNanos.addAndGet(System.nanoTime() - f0);
        Backend.Transfers b1 = backend.transfers();
        timing.addFactorBytes(b1.minus(b0));
        FactoredScores.RowResults rows = FactoredScores.reduce(backend, q, k, (float) model.attentionScale(h.layer()), cap, progress, reducer, timing, buffers);
        timing.addScoreBytes(backend.transfers().minus(b1));
        return stats(h, rows);
    }

    private static HeadStats stats(HeadId h, FactoredScores.RowResults rows) {
        double sum = 0;
        for (double p : rows.diagProb()) sum += p;
        return new HeadStats(h, sum / rows.diagProb().length, RankStatistics.of(rows.greater()));
    }
}
