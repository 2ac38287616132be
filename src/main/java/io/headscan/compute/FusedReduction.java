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

    /** Reduces every row; {@code rowsDone} hears of progress in rows. */
    void reduceScores(Matrix a, Matrix b, float scale, double[] sumExpRef, long[] greater, long[] less, LongConsumer rowsDone);
}
