package io.headscan.compute;

import io.headscan.model.Matrix;
import java.util.function.LongConsumer;

/**
 * A backend that can run the whole full-vocabulary reduction (docs/science.md §4/§5) next to its GEMMs, so that the
 * [V, V] scores never leave its memory: for factors a, b [V, r] and S = scale·a·bᵀ, per row t
 * {@code sumExpRef[t] = Σ_s exp(S[t, s] − S[t, t])}, {@code greater[t] = #{s : S[t, s] > S[t, t]}},
 * {@code less[t] = #{s : S[t, s] < S[t, t]}}. The cuBLAS backend does this with a CUDA kernel on device tiles.
 */
public interface FusedReduction {

    /** Whether the kernel is loaded (otherwise callers reduce tiles themselves). */
    boolean fusedReductionAvailable();

    /** Which reduction runs where the backend computes, and why (for --profile and the JSON reports). */
    String reductionPath();

    /** Reduces every row; {@code rowsDone} hears of progress in rows. */
    void reduceScores(Matrix a, Matrix b, float scale, double[] sumExpRef, long[] greater, long[] less, LongConsumer rowsDone);

    /** Whether {@link #reduceFactored} can run here. */
    boolean factoredReductionAvailable();

    /**
     * The same reduction with the factors formed where the backend computes, so that nothing but per-row results
     * crosses to the host: {@code a = x1 · diag(g1) · op(w1)} and {@code b = x2 · diag(g2) · op(w2)}, each [V, r], with
     * x [V, d] a tensor of this backend's {@link Backend#workspace() workspace} (U and W_EE live there: built or loaded
     * once), g a 1 × d LayerNorm weight (or null: none; only with an untransposed w) and op(w) [d, r] (mapped weights:
     * they cross once per run). A tensor of another workspace is refused, naming the argument. Returns the time and
     * the transfers of forming the factors (the rest of the call is the reduction).
     */
    FactorPhase reduceFactored(Tensor x1, Matrix g1, Matrix w1, Transpose t1, Tensor x2, Matrix g2, Matrix w2,
                        Transpose t2, float scale, double[] sumExpRef, long[] greater, long[] less, LongConsumer rowsDone);

    /** What forming the factors took inside {@link #reduceFactored}: wall time (the device synchronised) and transfers. */
    record FactorPhase(long nanos, Backend.Transfers bytes) {}
}
