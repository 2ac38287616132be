package io.headscan.compute.kernels;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The C kernel and the Java kernel against a plain double computation, and against each other. */
class RowReducerTest {

    @Test
    void nativeKernelIsBuiltAndLoads() {
        assertTrue(NativeKernels.load().isPresent(), "the build has a C compiler here: " + NativeKernels.loadError());
    }

    @Test
    void bothKernelsMatchADoubleReference() {
        int rows = 37, cols = 1001, ld = 1009;
        Random rnd = new Random(3);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tile = arena.allocate((long) (rows * ld + 5) * 4);
            long off = 5;
            float[][] x = new float[rows][cols];
            long[] diag = new long[rows];
            for (int i = 0; i < rows; i++) {
                diag[i] = rnd.nextInt(cols);
                for (int j = 0; j < cols; j++) {
                    x[i][j] = (float) (rnd.nextGaussian() * 6);
                    if (j % 97 == 0) x[i][j] = x[i][(int) diag[i]]; // ties with the reference are neither above nor below
                    tile.setAtIndex(ValueLayout.JAVA_FLOAT, off + (long) i * ld + j, x[i][j]);
                }
            }
            for (RowReducer r : new RowReducer[] {JavaRowReducer.INSTANCE, NativeKernels.load().orElseThrow()}) {
                float[] max = new float[rows];
                double[] sum = new double[rows];
                long[] gr = new long[rows], le = new long[rows];
                r.reduce(tile, off, rows, cols, ld, diag, max, sum, gr, le);
                for (int i = 0; i < rows; i++) {
                    float m = Float.NEGATIVE_INFINITY;
                    long g = 0, l = 0;
                    float ref = x[i][(int) diag[i]];
                    for (float v : x[i]) {
                        m = Math.max(m, v);
                        if (v > ref) g++;
                        if (v < ref) l++;
                    }
                    double s = 0;
                    for (float v : x[i]) s += Math.exp(v - m);
                    assertEquals(m, max[i], r.name() + " max row " + i);
                    assertEquals(s, sum[i], 2e-6 * s, r.name() + " sum row " + i);
                    assertEquals(g, gr[i], r.name() + " greater row " + i);
                    assertEquals(l, le[i], r.name() + " less row " + i);
                }
            }
        }
    }

    @Test
    void nativeGeluMatchesTheTanhFormula() {
        NativeKernels n = NativeKernels.load().orElseThrow();
        int rows = 3, cols = 301, ld = 310;
        float[] bias = new float[cols];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment t = arena.allocate((long) rows * ld * 4);
            double[][] x = new double[rows][cols];
            for (int j = 0; j < cols; j++) bias[j] = (j % 7) * 0.3f - 1f;
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) {
                    x[i][j] = (j - 150) * 0.07f * (i + 1);
                    t.setAtIndex(ValueLayout.JAVA_FLOAT, (long) i * ld + j, (float) x[i][j]);
                }
            }
            n.biasGeluNew(t, 0, rows, cols, ld, bias);
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) {
                    double v = (float) x[i][j] + bias[j];
                    double expected = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
                    assertEquals(expected, t.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * ld + j), 1e-6 * Math.max(1, Math.abs(expected)),
                            "gelu_new(" + v + ")");
                }
            }
        }
    }

    @Test
    void nativeKernelRejectsBadArguments() {
        RowReducer n = NativeKernels.load().orElseThrow();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tile = arena.allocate(4 * 10);
            assertThrows(IllegalArgumentException.class, () -> n.reduce(tile, 0, 2, 5, 5, new long[] {0, 5}, new float[2], new double[2], new long[2], new long[2]));
            assertThrows(IllegalArgumentException.class, () -> n.reduce(tile, 0, 3, 5, 5, new long[] {0, 1, 2}, new float[3], new double[3], new long[3], new long[3]));
        }
    }

    @Test
    void blockReductionsAddUpToTheWholeRowInCAndJava() {
        int rows = 9, cols = 3000, ld = 3011, block = 1024;
        Random rnd = new Random(8);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tile = arena.allocate((long) rows * ld * 4);
            float[][] x = new float[rows][cols];
            float[] ref = new float[rows];
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) {
                    x[i][j] = (float) (rnd.nextGaussian() * 4);
                    if (i == 3 && j == 2500) x[i][j] = 150f;    // far above the reference: the overflow-safe path
                    if (i == 4) x[i][j] = -100f + j * 0.01f;    // far below: terms underflow, the reference's own term stays
                    tile.setAtIndex(ValueLayout.JAVA_FLOAT, (long) i * ld + j, x[i][j]);
                }
                ref[i] = x[i][i * 7];
            }
            for (RowReducer r : new RowReducer[] {JavaRowReducer.INSTANCE, NativeKernels.load().orElseThrow()}) {
                double[] sum = new double[rows];
                long[] gr = new long[rows], le = new long[rows];
                for (int c0 = 0; c0 < cols; c0 += block) {
                    r.reduceBlock(tile, c0, rows, Math.min(block, cols - c0), ld, ref, sum, gr, le);
                }
                for (int i = 0; i < rows; i++) {
                    double want = 0;
                    long g = 0, l = 0;
                    for (float v : x[i]) {
                        want += Math.exp((double) v - ref[i]);
                        if (v > ref[i]) g++;
                        if (v < ref[i]) l++;
                    }
                    assertEquals(want, sum[i], 3e-6 * want, r.name() + " sum row " + i);
                    assertEquals(g, gr[i], r.name() + " greater row " + i);
                    assertEquals(l, le[i], r.name() + " less row " + i);
                }
            }
        }
    }
}
