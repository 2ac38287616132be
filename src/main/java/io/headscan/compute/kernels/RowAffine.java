package io.headscan.compute.kernels;

import io.headscan.bindings.kernels.headscan_kernels_h;
import io.headscan.format.SafetensorsFile;
import io.headscan.model.Matrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.IntStream;

/**
 * One row-wise step of docs/science.md §0–§2, applied to every row of a matrix in a single pass:
 * <pre>
 *   v = x[row] * preScale + preBias;   v = cd(v) or lnpre(v) or rms(v) or v;   y[row] = v * scale + bias + add[row]
 * </pre>
 * (each vector optional). Runs in C ({@code hs_rows_affine}) when the native kernels load, else in Java;
 * rows are split across the cores either way. Means and sums of squares accumulate in double.
 */
public record RowAffine(float[] preScale, float[] preBias, Norm norm, float[] scale, float[] bias) {

    /** What happens between the two affine maps. */
    public enum Norm {
        NONE, CENTER, LNPRE,
        /** v / sqrt(mean(v²) + 1e-5): RMSNorm, nothing centred. */
        RMS
    }

    private static final int MIN_ROWS_PER_TASK = 32;

    public RowAffine {
        if (norm == null) throw new IllegalArgumentException("norm is null");
    }

    /** y = x * g (LayerNorm weight folded onto the inputs). */
    public static RowAffine scaled(float[] g) {
        return new RowAffine(null, null, Norm.NONE, g, null);
    }

    /** y = norm(x) * g + b. */
    public static RowAffine normed(Norm norm, float[] g, float[] b) {
        return new RowAffine(null, null, norm, g, b);
    }

    /** The epsilon inside lnpre's square root (docs/science.md §0). */
    public static final double LNPRE_EPS = 1e-5;

    /**
     * y = lnpre_eps(sign · x) * g + b for rows of {@code cols} values, with a LayerNorm epsilon other than the kernels'
     * {@link #LNPRE_EPS} folded into the pre-scale: lnpre_e(v) = lnpre_{1e-5}(s·v) with s = sqrt(1e-5 / e), exactly (the
     * centred values scale by s, their root mean square by s·sqrt(mean + e)), so every kernel serves every epsilon.
     */
    public static RowAffine layerNorm(double eps, int cols, float sign, float[] g, float[] b) {
        return normalize(Norm.LNPRE, eps, cols, sign, g, b);
    }

    /**
     * y = norm_eps(s · x) * g + b for {@code norm} LNPRE or RMS, any epsilon (folded into the pre-scale as in {@link
     * #layerNorm}: rms_e(v) = rms_{1e-5}(t·v) with t = sqrt(1e-5 / e) as well). {@code s} scales the input first (the
     * sign of ±o, Gemma's sqrt(d) on the embedding).
     */
    public static RowAffine normalize(Norm norm, double eps, int cols, float s, float[] g, float[] b) {
        if (norm != Norm.LNPRE && norm != Norm.RMS) throw new IllegalArgumentException(norm + " has no epsilon");
        if (!(eps > 0)) throw new IllegalArgumentException("epsilon " + eps + " is not positive");
        float t = (float) (s * Math.sqrt(LNPRE_EPS / eps));
        float[] pre = null;
        if (t != 1f) {
            pre = new float[cols];
            java.util.Arrays.fill(pre, t);
        }
        return new RowAffine(pre, null, norm, g, b);
    }

    /** Rows of {@code x} in order: y[r] = f(x[r]) + add[r]. */
    public void apply(Matrix x, Matrix add, Matrix y) {
        apply(x, null, add, y);
    }

    /**
     * y[r] = f(x[index[r]]) + add[r] for r in [0, y.rows()); {@code index} null means r itself, {@code add} may be null.
     * x, add and y may share memory row for row (in place).
     */
    public void apply(Matrix x, int[] index, Matrix add, Matrix y) {
        apply(x, index, add, y, NativeKernels.preferred().isPresent());
    }

    /** As {@link #apply(Matrix, int[], Matrix, Matrix)}, in C or in Java as told (tests compare the two). */
    void apply(Matrix x, int[] index, Matrix add, Matrix y, boolean inC) {
        int rows = y.rows(), cols = y.cols();
        if (x.cols() != cols || (add != null && (add.cols() != cols || add.rows() < rows))) {
            throw new IllegalArgumentException("shapes differ: x " + x.rows() + "x" + x.cols() + ", y " + rows + "x" + cols
                    + (add == null ? "" : ", add " + add.rows() + "x" + add.cols()));
        }
        if (index == null ? x.rows() < rows : index.length != rows) throw new IllegalArgumentException("x has too few rows for y");
        if (index != null) {
            for (int i : index) {
                if (i < 0 || i >= x.rows()) throw new IndexOutOfBoundsException("row " + i + " outside [0, " + x.rows() + ")");
            }
        }
        for (float[] v : new float[][] {preScale, preBias, scale, bias}) {
            if (v != null && v.length < cols) throw new IllegalArgumentException("vector of " + v.length + " for " + cols + " columns");
        }
        if (rows == 0) return;
        int tasks = Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), rows / MIN_ROWS_PER_TASK));
        if (!sharable(x) || !sharable(y) || (add != null && !sharable(add))) tasks = 1;   // confined memory: this thread only
        if (inC) {
            applyNative(x, index, add, y, tasks);
        } else {
            IntStream stream = IntStream.range(0, rows);
            (tasks > 1 ? stream.parallel() : stream).forEach(r -> javaRow(x, index == null ? r : index[r], add, r, y));
        }
    }

    private void applyNative(Matrix x, int[] index, Matrix add, Matrix y, int tasks) {
        int rows = y.rows(), cols = y.cols();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment ps = vector(arena, preScale), pb = vector(arena, preBias), sc = vector(arena, scale), bi = vector(arena, bias);
            MemorySegment idx = MemorySegment.NULL;
            boolean gather = index != null;
            if (gather) {
                idx = arena.allocate(ValueLayout.JAVA_LONG, rows);
                for (int r = 0; r < rows; r++) idx.setAtIndex(ValueLayout.JAVA_LONG, r, index[r]);
            }
            MemorySegment xs = x.segment().asSlice(x.offset() * Float.BYTES);
            MemorySegment allIdx = idx;
            IntStream stream = IntStream.range(0, tasks);
            (tasks > 1 ? stream.parallel() : stream).forEach(t -> {
                int from = (int) ((long) rows * t / tasks), to = (int) ((long) rows * (t + 1) / tasks);
                if (from == to) return;
                MemorySegment ix = gather ? allIdx.asSlice((long) from * Long.BYTES) : MemorySegment.NULL;
                MemorySegment xr = gather ? xs : xs.asSlice((long) from * x.ld() * Float.BYTES);
                MemorySegment ar = add == null ? MemorySegment.NULL
                        : add.segment().asSlice((add.offset() + (long) from * add.ld()) * Float.BYTES);
                MemorySegment yr = y.segment().asSlice((y.offset() + (long) from * y.ld()) * Float.BYTES);
                int rc = headscan_kernels_h.hs_rows_affine(xr, x.ld(), ix, to - from, cols, ps, pb, norm.ordinal(), sc, bi,
                        ar, add == null ? cols : add.ld(), yr, y.ld());
                if (rc != 0) throw new IllegalStateException("hs_rows_affine rejected its arguments (" + (to - from) + "x" + cols + ")");
            });
        }
    }

    private static final Thread PROBE = Thread.ofPlatform().unstarted(() -> {});

    /** Whether other threads may touch this matrix's memory (false for a confined arena's). */
    private static boolean sharable(Matrix m) {
        return m.segment().isAccessibleBy(PROBE);
    }

    private static MemorySegment vector(Arena arena, float[] v) {
        return v == null ? MemorySegment.NULL : arena.allocateFrom(ValueLayout.JAVA_FLOAT, v);
    }

    private void javaRow(Matrix x, int xr, Matrix add, int r, Matrix y) {
        int n = y.cols();
        float[] v = new float[n];
        MemorySegment.copy(x.segment(), SafetensorsFile.F32_LE, (x.offset() + (long) xr * x.ld()) * Float.BYTES, v, 0, n);
        if (preScale != null) for (int j = 0; j < n; j++) v[j] *= preScale[j];
        if (preBias != null) for (int j = 0; j < n; j++) v[j] += preBias[j];
        if (norm == Norm.CENTER || norm == Norm.LNPRE) {
            double s = 0;
            for (int j = 0; j < n; j++) s += v[j];
            float m = (float) (s / n);
            for (int j = 0; j < n; j++) v[j] -= m;
        }
        if (norm == Norm.LNPRE || norm == Norm.RMS) {   // the root mean square, of the centred values for lnpre
            double q = 0;
            for (int j = 0; j < n; j++) q += (double) v[j] * v[j];
            float inv = (float) (1.0 / Math.sqrt(q / n + LNPRE_EPS));
            for (int j = 0; j < n; j++) v[j] *= inv;
        }
        if (scale != null) for (int j = 0; j < n; j++) v[j] *= scale[j];
        if (bias != null) for (int j = 0; j < n; j++) v[j] += bias[j];
        if (add != null) {
            float[] a = new float[n];
            MemorySegment.copy(add.segment(), SafetensorsFile.F32_LE, (add.offset() + (long) r * add.ld()) * Float.BYTES, a, 0, n);
            for (int j = 0; j < n; j++) v[j] += a[j];
        }
        MemorySegment.copy(v, 0, y.segment(), SafetensorsFile.F32_LE, (y.offset() + (long) r * y.ld()) * Float.BYTES, n);
    }
}
