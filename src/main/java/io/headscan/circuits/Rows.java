package io.headscan.circuits;

import io.headscan.format.SafetensorsFile;
import io.headscan.model.Matrix;

/** Row-wise helpers on matrix views: copy a row to the heap and back (bulk copies, any ld). */
final class Rows {

    private Rows() {}

    static void read(Matrix m, int r, float[] out) {
        java.lang.foreign.MemorySegment.copy(m.segment(), SafetensorsFile.F32_LE, (m.offset() + (long) r * m.ld()) * Float.BYTES,
                out, 0, m.cols());
    }

    static void write(Matrix m, int r, float[] in) {
        java.lang.foreign.MemorySegment.copy(in, 0, m.segment(), SafetensorsFile.F32_LE, (m.offset() + (long) r * m.ld()) * Float.BYTES,
                m.cols());
    }

    /** gelu_new: the tanh form (docs/science.md §0), not erf. */
    static float geluNew(float x) {
        double v = x;
        return (float) (0.5 * v * (1 + Math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
    }
}
