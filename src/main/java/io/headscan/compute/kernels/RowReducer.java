package io.headscan.compute.kernels;

import java.lang.foreign.MemorySegment;

/**
 * The fused reduction of a tile of scores (docs/science.md §4/§5), row by row: maximum, Σ exp(x − max),
 * and the counts of entries strictly above and below the row's reference (diagonal) entry. Implemented
 * in C ({@link NativeKernels}, through FFM) and in Java ({@link JavaRowReducer}); both give the same
 * counts exactly and the same sums to float rounding.
 */
public interface RowReducer {


    String name();

    /**
     * @param tile  row-major floats, {@code rows × cols}, leading dimension {@code ld}, starting at float {@code offset}
     * @param diag  per row, the column of its reference entry
     */
    void reduce(MemorySegment tile, long offset, int rows, int cols, int ld, long[] diag,
                float[] max, double[] sumExp, long[] greater, long[] less);

    /**
     * The full-vocabulary reduction of one column block of a tile, added into running results: {@code ref[i]} is row
     * i's reference value S[t, t]; {@code sumExpRef[i]} gains Σ_j exp(x_j − ref[i]) (so the softmax probability of the
     * reference entry is 1 / the total over all blocks), {@code greater}/{@code less} gain the strict counts.
     */
    default void reduceBlock(MemorySegment tile, long offset, int rows, int cols, int ld, float[] ref,
                             double[] sumExpRef, long[] greater, long[] less) {
        JavaRowReducer.INSTANCE.reduceBlock(tile, offset, rows, cols, ld, ref, sumExpRef, greater, less);
    }

    /**
     * The one place where C or Java row kernels are chosen (reductions, GELU, LayerNorm steps all follow it): native when
     * its library loads, else Java, or as forced by -Dheadscan.kernels=java|native (HEADSCAN_KERNELS).
     */
    static RowReducer best() {
        String forced = forced();
        if (forced.equals("java")) return JavaRowReducer.INSTANCE;
        var n = NativeKernels.load();
        if (n.isPresent()) return n.get();
        if (forced.equals("native")) throw new IllegalStateException("native kernels requested but unavailable: " + NativeKernels.loadError());
        return JavaRowReducer.INSTANCE;
    }

    private static String forced() {
        return System.getProperty("headscan.kernels", System.getenv().getOrDefault("HEADSCAN_KERNELS", "auto"));
    }

    /** Which row kernels run and why, in a few words (for {@code backends} and {@code --profile}). */
    static String describeChoice() {
        if (forced().equals("java")) return "Java (asked for with HEADSCAN_KERNELS=java)";
        if (best() instanceof NativeKernels) return "C (native/kernels, through FFM)";
        return "Java, several times slower: the C kernels did not load (" + NativeKernels.loadError() + ")";
    }

    /** True when the Java kernels run although nobody asked for them: worth a warning. */
    static boolean fellBack() {
        return !forced().equals("java") && !(best() instanceof NativeKernels);
    }
}
