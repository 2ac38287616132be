package io.headscan.compute;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.format.SafetensorsFile;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import io.headscan.synth.SyntheticGpt2;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every backend against a plain double-precision GEMM written here from the definition, at odd sizes,
 * both transposes, leading dimensions larger than the width, offsets, and strided views into a mapped
 * {@code c_attn}. Tolerance: |C - ref| ≤ 4·k·2⁻²⁴·Σ|a||b| + 1e-6 (float accumulation bound).
 */
class BackendParityTest {

    private static List<Backend> backends;

    @BeforeAll
    static void open() {
        List<Backend> list = new java.util.ArrayList<>(List.of(OpenBlasBackend.open(Optional.empty(), 2), new JavaBackend(2)));
        if (io.headscan.testing.ParityFixture.gpuPresent()) list.add(io.headscan.compute.cuda.CublasBackend.open(Optional.empty(), false));
        backends = list;
    }

    @AfterAll
    static void close() {
        backends.forEach(Backend::close);
    }

    static Stream<Arguments> cases() {
        int[][] sizes = {{1, 1, 1}, {7, 13, 5}, {33, 17, 65}, {129, 3, 64}, {5, 200, 768}, {64, 64, 0}};
        Stream.Builder<Arguments> b = Stream.builder();
        for (String backend : io.headscan.testing.ParityFixture.backendNames()) {
            for (int[] s : sizes) {
                for (Transpose ta : Transpose.values()) {
                    for (Transpose tb : Transpose.values()) b.add(Arguments.of(backend, s[0], s[1], s[2], ta, tb));
                }
            }
        }
        return b.build();
    }

    private static Backend backend(String name) {
        return backends.stream().filter(x -> x.name().equals(name)).findFirst().orElseThrow();
    }

    /** Fills a segment with values in [-1, 1). */
    private static MemorySegment random(Arena arena, long floats, Random rnd) {
        MemorySegment s = arena.allocate(Math.max(1, floats) * 4 + 3).asSlice(3); // deliberately unaligned
        for (long i = 0; i < floats; i++) s.setAtIndex(SafetensorsFile.F32_LE, i, rnd.nextFloat() * 2 - 1);
        return s;
    }

    @ParameterizedTest(name = "{0} m={1} n={2} k={3} {4}{5}")
    @MethodSource("cases")
    void sgemmMatchesDoubleReference(String name, int m, int n, int k, Transpose ta, Transpose tb) {
        Random rnd = new Random(m * 31L + n * 7L + k + ta.ordinal() * 3 + tb.ordinal());
        try (Arena arena = Arena.ofShared()) { // shared: the Java backend may split rows across threads
            int aRows = ta.on() ? k : m, aCols = ta.on() ? m : k;
            int bRows = tb.on() ? n : k, bCols = tb.on() ? k : n;
            int lda = aCols + 3, ldb = bCols + 5, ldc = n + 2;
            long aOff = 11, bOff = 7, cOff = 5;
            MemorySegment a = random(arena, aOff + (long) aRows * lda, rnd);
            MemorySegment b = random(arena, bOff + (long) bRows * ldb, rnd);
            MemorySegment c = random(arena, cOff + (long) m * ldc, rnd);
            float alpha = 0.75f, beta = -0.5f;
            double[] ref = new double[m * n];
            double[] bound = new double[m * n];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0, abs = 0;
                    for (int p = 0; p < k; p++) {
                        double x = a.getAtIndex(SafetensorsFile.F32_LE, aOff + (ta.on() ? (long) p * lda + i : (long) i * lda + p));
                        double y = b.getAtIndex(SafetensorsFile.F32_LE, bOff + (tb.on() ? (long) j * ldb + p : (long) p * ldb + j));
                        s += x * y;
                        abs += Math.abs(x * y);
                    }
                    double c0 = c.getAtIndex(SafetensorsFile.F32_LE, cOff + (long) i * ldc + j);
                    ref[i * n + j] = alpha * s + beta * c0;
                    bound[i * n + j] = 4.0 * (k + 2) * 0x1p-24 * (Math.abs(alpha) * abs + Math.abs(beta * c0)) + 1e-6;
                }
            }
            // a guard column beyond n in each row of C must stay untouched
            float guard = c.getAtIndex(SafetensorsFile.F32_LE, cOff + n);
            backend(name).sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double got = c.getAtIndex(SafetensorsFile.F32_LE, cOff + (long) i * ldc + j);
                    assertEquals(ref[i * n + j], got, bound[i * n + j], name + " C[" + i + "," + j + "]");
                }
            }
            assertEquals(guard, c.getAtIndex(SafetensorsFile.F32_LE, cOff + n), "padding between rows of C untouched");
        }
    }

    @ParameterizedTest
    @MethodSource("names")
    void betaZeroIgnoresNaNInC(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(4 * 4), b = arena.allocate(4 * 4), c = arena.allocate(4 * 4);
            for (int i = 0; i < 4; i++) {
                a.setAtIndex(SafetensorsFile.F32_LE, i, i + 1);
                b.setAtIndex(SafetensorsFile.F32_LE, i, 1);
                c.setAtIndex(SafetensorsFile.F32_LE, i, Float.NaN);
            }
            // [1 2; 3 4] · [1 1; 1 1] = [3 3; 7 7]
            backend(name).sgemm(Transpose.NO, Transpose.NO, 2, 2, 2, 1f, a, 0, 2, b, 0, 2, 0f, c, 0, 2);
            assertArrayEquals(new float[] {3, 3, 7, 7}, c.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT));
        }
    }

    static Stream<String> names() {
        return io.headscan.testing.ParityFixture.backendNames().stream();
    }

    @ParameterizedTest
    @MethodSource("names")
    void stridedHeadViewsIntoMappedCAttnMatchReference(String name, @TempDir Path dir) throws Exception {
        Dims dims = new Dims(97, 48, 2, 3, 80, 16);
        new SyntheticGpt2(dims, 5, List.of()).write(dir, 2);
        try (Model m = Model.open(dir); Arena arena = Arena.ofConfined()) {
            Matrix e = m.embedding().rows(10, 9); // 9 token embeddings [9, 48]
            for (int third = 0; third < 3; third++) {
                HeadId h = new HeadId(1, 2);
                Matrix w = (third == 0 ? m.wq(h) : third == 1 ? m.wk(h) : m.wv(h)).stored();
                assertEquals(3 * dims.dModel(), w.ld(), "head block is a strided view of c_attn");
                Matrix out = Matrix.dense(arena.allocate(9L * w.cols() * 4), 9, w.cols());
                backend(name).gemm(1f, e, Transpose.NO, w, Transpose.NO, 0f, out);
                for (int i = 0; i < 9; i++) {
                    for (int j = 0; j < w.cols(); j++) {
                        double s = 0;
                        for (int p = 0; p < dims.dModel(); p++) s += (double) e.get(i, p) * w.get(p, j);
                        assertEquals(s, out.get(i, j), 1e-5, "row " + i + " col " + j);
                    }
                }
            }
            // W_O block, transposed use: out[9, d_h] = E[9, d] · W_Oᵀ
            Matrix wo = m.wo(new HeadId(0, 1)).stored();
            Matrix out = Matrix.dense(arena.allocate(9L * wo.rows() * 4), 9, wo.rows());
            backend(name).gemm(1f, e, Transpose.NO, wo, Transpose.YES, 0f, out);
            for (int i = 0; i < 9; i++) {
                for (int j = 0; j < wo.rows(); j++) {
                    double s = 0;
                    for (int p = 0; p < dims.dModel(); p++) s += (double) e.get(i, p) * wo.get(j, p);
                    assertEquals(s, out.get(i, j), 1e-5);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("names")
    void stridedBatchedGemmMatchesOneCallPerProblem(String name) {
        int heads = 5, b = 7, dh = 6, d = heads * dh;
        Random rnd = new Random(9);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = random(arena, (long) b * d, rnd), k = random(arena, (long) b * d, rnd);
            MemorySegment batched = arena.allocate((long) heads * b * b * 4), looped = arena.allocate((long) heads * b * b * 4);
            backend(name).sgemmStridedBatched(Transpose.NO, Transpose.YES, b, b, dh, 0.5f, q, 0, d, dh, k, 0, d, dh, 0f, batched, 0, b, (long) b * b, heads);
            for (int h = 0; h < heads; h++) {
                backend(name).sgemm(Transpose.NO, Transpose.YES, b, b, dh, 0.5f, q, (long) h * dh, d, k, (long) h * dh, d, 0f, looped, (long) h * b * b, b);
            }
            for (long i = 0; i < (long) heads * b * b; i++) {
                assertEquals(looped.getAtIndex(SafetensorsFile.F32_LE, i), batched.getAtIndex(SafetensorsFile.F32_LE, i), 1e-6);
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend(name).sgemmStridedBatched(Transpose.NO,
                    Transpose.YES, b, b, dh, 1f, q, 0, d, dh, k, 0, d, dh, 0f, batched, 0, b, (long) b * b, heads + 1));
            assertTrue(e.getMessage().contains("runs past"), e.getMessage());
        }
    }

    @ParameterizedTest
    @MethodSource("names")
    void badArgumentsAreNamedBeforeNativeCode(String name) {
        Backend be = backend(name);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(16 * 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> be.sgemm(Transpose.NO, Transpose.NO, 4, 4, 4, 1f, s, 0, 3, s, 0, 4, 0f, s, 0, 4));
            assertTrue(e.getMessage().contains("lda"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> be.sgemm(Transpose.NO, Transpose.NO, 4, 4, 4, 1f, s, 1, 4, s, 0, 4, 0f, s, 0, 4));
            assertTrue(e.getMessage().contains("A") && e.getMessage().contains("runs past"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> be.sgemm(Transpose.NO, Transpose.NO, -1, 4, 4, 1f, s, 0, 4, s, 0, 4, 0f, s, 0, 4));
            assertTrue(e.getMessage().contains("m = -1"), e.getMessage());
            MemorySegment ro = s.asReadOnly();
            e = assertThrows(IllegalArgumentException.class,
                    () -> be.sgemm(Transpose.NO, Transpose.NO, 4, 4, 4, 1f, s, 0, 4, s, 0, 4, 0f, ro, 0, 4));
            assertTrue(e.getMessage().contains("read-only"), e.getMessage());
        }
    }

    @Test
    void openBlasReportsVersionAndCoreType() {
        OpenBlasBackend ob = (OpenBlasBackend) backend("openblas");
        assertEquals("0.3.31", ob.library().version());
        assertFalse(ob.library().coreName().isBlank());
        String forced = System.getenv("OPENBLAS_CORETYPE");
        if (forced != null && !forced.isBlank()) assertEquals(forced.toLowerCase(), ob.library().coreName().toLowerCase());
        ob.setThreads(1);
        assertEquals(1, ob.threads());
        ob.setThreads(2);
        assertTrue(ob.describe().contains("OpenBLAS 0.3.31"), ob.describe());
    }
}
