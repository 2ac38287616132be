package io.headscan.compute.kernels;

import io.headscan.format.SafetensorsFile;
import io.headscan.model.Activation;
import io.headscan.model.Matrix;
import java.lang.foreign.MemorySegment;
import java.util.stream.IntStream;

/**
 * Element-wise steps on host matrices, in C ({@code hs_gated}, {@code hs_softcap}) when the native kernels load, else
 * in Java, with the same double-precision arithmetic; rows are split across the cores either way.
 * <ul>
 *   <li>the gated MLP's product (docs/science.md §9): {@code g = act(g) ⊙ u} (SwiGLU: SiLU; GeGLU: the tanh GELU);</li>
 *   <li>attention-logit soft-capping: {@code x = c · tanh(x / c)} (Gemma-2).</li>
 * </ul>
 */
public final class Elementwise {

    private Elementwise() {}

    private static final int MIN_ROWS_PER_TASK = 8;
    private static final Thread PROBE = Thread.ofPlatform().unstarted(() -> {});

    /** {@code g = act(g) ⊙ u}, in place over g; g and u have the same shape. */
    public static void gated(Matrix g, Matrix u, Activation act) {
        gated(g, u, act, NativeKernels.preferred().isPresent());
    }

    /** As {@link #gated(Matrix, Matrix, Activation)}, in C or in Java as told (tests compare the two). */
    static void gated(Matrix g, Matrix u, Activation act, boolean inC) {
        if (g.rows() != u.rows() || g.cols() != u.cols()) {
            throw new IllegalArgumentException("gated: g is " + g.rows() + "x" + g.cols() + ", u " + u.rows() + "x" + u.cols());
        }
        int rows = g.rows(), cols = g.cols();
        if (rows == 0 || cols == 0) return;
        forRowRanges(rows, shared(g) && shared(u), (from, to) -> {
            if (inC) {
                NativeKernels.preferred().orElseThrow().gated(g.segment(), g.offset() + (long) from * g.ld(), g.ld(), u.segment(),
                        u.offset() + (long) from * u.ld(), u.ld(), to - from, cols, code(act));
                return;
            }
            float[] a = new float[cols], b = new float[cols];
            for (int r = from; r < to; r++) {
                read(g, r, a);
                read(u, r, b);
                for (int j = 0; j < cols; j++) a[j] = (float) (act.apply(a[j]) * b[j]);
                write(g, r, a);
            }
        });
    }

    /** {@code x = cap · tanh(x / cap)} in place (cap > 0). */
    public static void softcap(Matrix x, float cap) {
        softcap(x, cap, NativeKernels.preferred().isPresent());
    }

    static void softcap(Matrix x, float cap, boolean inC) {
        if (!(cap > 0)) throw new IllegalArgumentException("soft-cap " + cap + " is not positive");
        int rows = x.rows(), cols = x.cols();
        if (rows == 0 || cols == 0) return;
        forRowRanges(rows, shared(x), (from, to) -> {
            if (inC) {
                NativeKernels.preferred().orElseThrow().softcap(x.segment(), x.offset() + (long) from * x.ld(), to - from, cols, x.ld(), cap);
                return;
            }
            float[] a = new float[cols];
            double c = cap;
            for (int r = from; r < to; r++) {
                read(x, r, a);
                for (int j = 0; j < cols; j++) a[j] = (float) (c * Math.tanh(a[j] / c));
                write(x, r, a);
            }
        });
    }

    /** hs_gated's activation code. */
    private static int code(Activation act) {
        return switch (act) {
            case GELU_TANH -> 0;
            case GELU_ERF -> 1;
            case RELU -> 2;
            case SILU -> 3;
        };
    }

    private interface RowRange {
        void run(int from, int to);
    }

    private static void forRowRanges(int rows, boolean shared, RowRange body) {
        int tasks = shared ? Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), rows / MIN_ROWS_PER_TASK)) : 1;
        IntStream ids = IntStream.range(0, tasks);
        (tasks > 1 ? ids.parallel() : ids).forEach(t -> {
            int from = (int) ((long) rows * t / tasks), to = (int) ((long) rows * (t + 1) / tasks);
            if (from < to) body.run(from, to);
        });
    }

    private static boolean shared(Matrix m) {
        return m.segment().isAccessibleBy(PROBE);
    }

    private static void read(Matrix m, int r, float[] row) {
        MemorySegment.copy(m.segment(), SafetensorsFile.F32_LE, (m.offset() + (long) r * m.ld()) * Float.BYTES, row, 0, row.length);
    }

    private static void write(Matrix m, int r, float[] row) {
        MemorySegment.copy(row, 0, m.segment(), SafetensorsFile.F32_LE, (m.offset() + (long) r * m.ld()) * Float.BYTES, row.length);
    }
}
