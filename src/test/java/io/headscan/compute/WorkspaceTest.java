package io.headscan.compute;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.compute.kernels.RowAffine;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.model.Matrix;
import io.headscan.testing.ParityFixture;
import java.lang.foreign.Arena;
import java.util.Optional;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/**
 * Every workspace (OpenBLAS's and pure Java's host memory; cuBLAS's device memory where there is a GPU) against plain
 * double-precision arithmetic written here, at sizes that are multiples of nothing the kernels use (771 columns: not a
 * multiple of 8 or of the 256 threads of a GPU row block), with strided views, gathers and in-place steps.
 */
class WorkspaceTest {

    static java.util.List<String> backends() {
        return ParityFixture.backendNames();
    }

    static Backend open(String name) {
        return switch (name) {
            case "openblas" -> OpenBlasBackend.open(Optional.empty(), 2);
            case "java" -> new JavaBackend(2);
            case "cublas" -> io.headscan.compute.cuda.CublasBackend.open(Optional.empty(), false);
            default -> throw new IllegalArgumentException(name);
        };
    }

    private static Matrix random(Arena arena, int rows, int cols, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Matrix m = Matrix.allocate(arena, rows, cols);
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) m.set(r, c, (float) (rnd.nextDouble() * 4 - 2));
        return m;
    }

    private static float[] vector(int n, long seed, double lo, double hi) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (lo + rnd.nextDouble() * (hi - lo));
        return v;
    }

    private static Matrix fetch(Workspace ws, Arena arena, Tensor t) {
        Matrix m = Matrix.allocate(arena, t.rows(), t.cols());
        ws.store(t, m);
        return m;
    }

    @ParameterizedTest
    @MethodSource("backends")
    void layerNormStepsWithGatherAndResidualMatchDoubles(String name) {
        int rows = 37, cols = 771, source = 90;
        float[] ps = vector(cols, 1, 0.5, 1.5), pb = vector(cols, 2, -0.2, 0.2), sc = vector(cols, 3, 0.5, 2), bi = vector(cols, 4, -1, 1);
        int[] index = new SplittableRandom(5).ints(rows, 0, source).toArray();
        index[3] = index[4];   // a repeated row
        try (Backend b = open(name); Arena arena = Arena.ofShared(); Workspace ws = b.workspace()) {
            Matrix x = random(arena, source, cols, 6), add = random(arena, rows, cols, 7);
            for (RowAffine.Norm norm : RowAffine.Norm.values()) {
                RowAffine step = new RowAffine(ps, pb, norm, sc, bi);
                Tensor y = ws.allocate(rows, cols);
                ws.rows(step, ws.load(x), index, ws.load(add), y);
                Matrix got = fetch(ws, arena, y);
                for (int r = 0; r < rows; r++) {
                    double[] v = new double[cols];
                    double mean = 0, sq = 0;
                    for (int j = 0; j < cols; j++) mean += v[j] = (double) x.get(index[r], j) * ps[j] + pb[j];
                    mean /= cols;
                    for (int j = 0; j < cols; j++) sq += (v[j] - mean) * (v[j] - mean);
                    double inv = 1 / Math.sqrt(sq / cols + 1e-5);
                    double rq = 0;
                    for (int j = 0; j < cols; j++) rq += v[j] * v[j];
                    double rinv = 1 / Math.sqrt(rq / cols + 1e-5);   // RMSNorm: nothing centred
                    for (int j = 0; j < cols; j++) {
                        double n = switch (norm) {
                            case NONE -> v[j];
                            case CENTER -> v[j] - mean;
                            case LNPRE -> (v[j] - mean) * inv;
                            case RMS -> v[j] * rinv;
                        };
                        double want = n * sc[j] + bi[j] + add.get(r, j);
                        assertEquals(want, got.get(r, j), 2e-5 * (1 + Math.abs(want)), name + " " + norm + " row " + r + " col " + j);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void inPlaceCentringAddsTheResidual(String name) {
        int rows = 300, cols = 771;
        try (Backend b = open(name); Arena arena = Arena.ofShared(); Workspace ws = b.workspace()) {
            Matrix x = random(arena, rows, cols, 8), r = random(arena, rows, cols, 9);
            Tensor tx = ws.allocate(rows, cols), tr = ws.allocate(rows, cols);
            ws.rows(new RowAffine(null, null, RowAffine.Norm.NONE, null, null), ws.load(x), null, null, tx);   // copies
            ws.rows(new RowAffine(null, null, RowAffine.Norm.NONE, null, null), ws.load(r), null, null, tr);
            ws.rows(RowAffine.normed(RowAffine.Norm.CENTER, null, null), tx, null, tr, tr);   // tr <- cd(x) + tr
            Matrix got = fetch(ws, arena, tr);
            for (int i = 0; i < rows; i++) {
                double mean = 0;
                for (int j = 0; j < cols; j++) mean += x.get(i, j);
                mean /= cols;
                for (int j = 0; j < cols; j++) assertEquals(x.get(i, j) - mean + r.get(i, j), got.get(i, j), 1e-5, name + " " + i + "," + j);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void biasGeluIsTheTanhFormOnAStridedView(String name) {
        int rows = 33, cols = 771, ld = 800;
        float[] bias = vector(cols, 10, -1, 1);
        try (Backend b = open(name); Arena arena = Arena.ofShared(); Workspace ws = b.workspace()) {
            Matrix wide = random(arena, rows, ld, 11);
            Matrix x = wide.block(0, 0, rows, cols);
            Tensor full = ws.allocate(rows, ld);
            ws.rows(new RowAffine(null, null, RowAffine.Norm.NONE, null, null), ws.load(wide), null, null, full);
            Tensor h = full.rows(2, rows - 2);
            Tensor view = ws.load(x);   // the same host memory: the strided view of a loaded matrix
            assertEquals(ld, view.ld());
            Tensor block = ws.allocate(rows - 2, cols);
            ws.rows(new RowAffine(null, null, RowAffine.Norm.NONE, null, null), view.rows(2, rows - 2), null, null, block);
            ws.biasGelu(block, bias);
            Matrix got = fetch(ws, arena, block);
            for (int i = 0; i < rows - 2; i++) {
                for (int j = 0; j < cols; j++) {
                    double v = (double) (x.get(i + 2, j) + bias[j]);
                    double want = 0.5 * v * (1 + Math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
                    assertEquals(want, got.get(i, j), 2e-6 * (1 + Math.abs(want)), name + " " + i + "," + j);
                }
            }
            assertEquals(rows - 2, h.rows());
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void gemmOnViewsAndTransposesMatchesDoubles(String name) {
        int m = 67, n = 129, k = 77;
        try (Backend b = open(name); Arena arena = Arena.ofShared(); Workspace ws = b.workspace()) {
            Matrix a = random(arena, k + 3, m + 5, 12).block(3, 5, k, m);    // stored k × m: op(A) = Aᵀ
            Matrix bm = random(arena, k, n + 9, 13).block(0, 9, k, n);       // k × n, ld n + 9
            Matrix c0 = random(arena, m, n, 14);
            Tensor c = ws.allocate(m, n);
            ws.rows(new RowAffine(null, null, RowAffine.Norm.NONE, null, null), ws.load(c0), null, null, c);
            ws.gemm(0.5f, ws.load(a), Transpose.YES, ws.load(bm), Transpose.NO, 2f, c);
            Matrix got = fetch(ws, arena, c);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int l = 0; l < k; l++) s += (double) a.get(l, i) * bm.get(l, j);
                    double want = 0.5 * s + 2 * c0.get(i, j);
                    assertEquals(want, got.get(i, j), 1e-4 * (1 + Math.abs(want)), name + " " + i + "," + j);
                }
            }
        }
    }

    @Test
    void hostWorkspacesUseTheMatrixItselfAndStoreNothingIntoIt() {
        try (Backend b = new JavaBackend(1); Arena arena = Arena.ofShared(); Workspace ws = b.workspace()) {
            Matrix m = random(arena, 4, 5, 15);
            Tensor t = ws.load(m.block(1, 0, 3, 5));
            assertEquals(m.segment().address(), t.memory().address(), "zero-copy: the same memory");
            assertEquals(5, t.offset());
            Tensor target = ws.target(m);
            ws.rows(new RowAffine(null, null, RowAffine.Norm.NONE, new float[] {2, 2, 2, 2, 2}, null), target, null, null, target);
            float before = m.get(2, 3);
            ws.store(target, m);   // target is m: nothing to copy, and nothing is lost
            assertEquals(before, m.get(2, 3));
        }
    }

    @Test
    void tensorsOfAnotherWorkspaceAreRefusedByArgumentName() {
        try (Backend ob = OpenBlasBackend.open(Optional.empty(), 1); Backend jb = new JavaBackend(1); Arena arena = Arena.ofShared();
             Workspace a = ob.workspace(); Workspace b = jb.workspace()) {
            Tensor x = a.load(random(arena, 3, 3, 16));
            Tensor y = b.allocate(3, 3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> b.gemm(1f, y, Transpose.NO, x, Transpose.NO, 0f, y));
            assertEquals("b is a tensor of another openblas workspace, not of this java one: load it here first", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> a.rows(RowAffine.scaled(null), x, null, y, x));
            assertTrue(e.getMessage().startsWith("add is a tensor of another java workspace"), e.getMessage());
            Workspace c = jb.workspace();
            Tensor z = c.allocate(3, 3);
            c.close();
            e = assertThrows(IllegalArgumentException.class, () -> b.biasGelu(z, new float[3]));
            assertTrue(e.getMessage().startsWith("h is a tensor of a closed java workspace"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> c.allocate(1, 1), "a closed workspace does nothing");
            e = assertThrows(IllegalArgumentException.class, () -> b.gemm(1f, y, Transpose.NO, b.allocate(4, 3), Transpose.NO, 0f, y));
            assertTrue(e.getMessage().contains("inner dimensions differ"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> b.store(y, random(arena, 2, 3, 1)));
            assertTrue(e.getMessage().contains("host matrix is 2x3, tensor is 3x3"), e.getMessage());
        }
    }
}
