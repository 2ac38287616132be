package io.headscan.compute.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.*;

import io.headscan.Progress;
import io.headscan.circuits.Bags;
import io.headscan.circuits.EmbeddingTable;
import io.headscan.circuits.FullVocabQK;
import io.headscan.circuits.PredictionAttention;
import io.headscan.circuits.Variant;
import io.headscan.compute.Backend;
import io.headscan.compute.Transpose;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import io.headscan.synth.SyntheticGpt2;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * cuBLAS against OpenBLAS (itself checked against the double-precision reference in ScienceParityTest), in FP32 and
 * TF32, and the fused full-vocabulary kernel against exact arithmetic. Skipped only where the machine has no GPU
 * device; where it has one, a cuBLAS or kernel that fails to load fails these tests. (ScienceParityTest,
 * TileEdgeParityTest and BackendParityTest also run every command's computation on cuBLAS there.)
 */
class GpuParityTest {

    @TempDir
    Path dir;

    private static CublasBackend cublas(boolean tf32) {
        assumeTrue(io.headscan.testing.ParityFixture.gpuPresent(), "the CUDA driver reports no GPU on this machine");
        return CublasBackend.open(Optional.empty(), tf32);   // a GPU is there: a load error is a failure
    }

    @Test
    void theFusedKernelLoadsAndPassesItsExactCheck() {
        try (CublasBackend gpu = cublas(false)) {
            assertEquals("", gpu.fusedCheck(), gpu.describe());
            assertTrue(gpu.reductionPath().startsWith("fused"), gpu.reductionPath());
        }
    }

    /**
     * Factors of small integers and scale 1/8 make every score exact in float, so the fused kernel, the tile path and
     * a Java double computation must agree exactly on every count, with exact ties everywhere (planted: a key equal to
     * the diagonal's, equal queries), at V = 3237 (not a multiple of the 64-row blocks or 64-key tiles).
     */
    @Test
    void fusedAndTilePathsAgreeExactlyWithTies() {
        int v = 3237, r = 64;
        try (CublasBackend gpu = cublas(false); CublasBackend tc = cublas(true); Arena arena = Arena.ofShared()) {
            assertEquals("", tc.fusedTf32Check(), "the TF32 tensor-core kernel passes its own check on this GPU: " + tc.describe());
            // measured slower than the FP32 kernel (docs/gpu.md): --tf32 alone keeps the FP32 fused reduction
            assertTrue(tc.reductionPath().startsWith("fused (FP32"), tc.reductionPath());
            Random rnd = new Random(11);
            Matrix a = Matrix.allocate(arena, v, r), b = Matrix.allocate(arena, v, r);
            for (int t = 0; t < v; t++) for (int k = 0; k < r; k++) {
                a.set(t, k, rnd.nextInt(7) - 3);
                b.set(t, k, rnd.nextInt(7) - 3);
            }
            for (int k = 0; k < r; k++) {
                b.set(2000, k, b.get(70, k));   // S[70, 2000] = S[70, 70]: a tie with the diagonal
                a.set(3236, k, a.get(0, k));    // the last query equals the first
            }
            // small integers are exact in TF32 too: all three paths must give the exact counts
            String[] names = {"fused FP32", "tiles", "fused TF32"};
            double[][] sums = new double[3][v];
            long[][] gs = new long[3][v], ls = new long[3][v];
            gpu.force(CublasBackend.Reduction.FUSED);
            gpu.reduceScores(a, b, 0.125f, sums[0], gs[0], ls[0], n -> { });
            gpu.force(CublasBackend.Reduction.TILES);
            gpu.reduceScores(a, b, 0.125f, sums[1], gs[1], ls[1], n -> { });
            tc.force(CublasBackend.Reduction.FUSED_TF32);
            tc.reduceScores(a, b, 0.125f, sums[2], gs[2], ls[2], n -> { });
            for (int t = 0; t < v; t++) {
                long wantG = 0, wantL = 0;
                double ref = dot(a, b, t, t, r) * 0.125, sum = 0;
                for (int s = 0; s < v; s++) {
                    double x = dot(a, b, t, s, r) * 0.125;
                    sum += Math.exp(x - ref);
                    if (x > ref) wantG++;
                    if (x < ref) wantL++;
                }
                for (int p = 0; p < 3; p++) {
                    assertEquals(wantG, gs[p][t], names[p] + " greater, row " + t);
                    assertEquals(wantL, ls[p][t], names[p] + " less, row " + t);
                    assertEquals(sum, sums[p][t], (p == 1 ? 1e-5 : 1e-6) * sum, names[p] + " sum, row " + t);
                }
            }
        }
    }

    private static double dot(Matrix a, Matrix b, int t, int s, int r) {
        double acc = 0;
        for (int k = 0; k < r; k++) acc += (double) a.get(t, k) * b.get(s, k);
        return acc;
    }

    /**
     * With the factors formed on the device, every head after the first moves nothing to it: E (for U), W_EE, the
     * weights and the ln_1 weights cross once; what comes back is three numbers per row.
     */
    @Test
    void fullVocabularyMovesItsInputsOnceAndOnlyRowResultsBack() throws IOException {
        try (Model m = model(); Backend cpu = OpenBlasBackend.open(Optional.empty(), 2); CublasBackend gpu = cublas(false);
             EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, cpu, dir.resolve("cache"), Progress.NONE, s -> {});
             FullVocabQK qk = new FullVocabQK(m, gpu, t.matrix())) {
            assertTrue(gpu.factoredReductionAvailable(), gpu.describe());
            var beforeWarmUp = gpu.transfers();
            gpu.warmUp();
            assertEquals(beforeWarmUp, gpu.transfers(), "the warm-up's copies are not the work's");
            var setup = gpu.transfers();
            List<HeadId> all = new java.util.ArrayList<>();
            for (int l = 0; l < 3; l++) for (int h = 0; h < 4; h++) all.add(new HeadId(l, h));
            for (HeadId h : all) qk.head(h, Progress.NONE);
            var first = gpu.transfers();
            // E (once, for U), W_EE, each used layer's c_attn, small vectors
            long once = m.embedding().segment().byteSize() + t.matrix().segment().byteSize();
            for (int l = 0; l < 3; l++) once += m.wq(new HeadId(l, 0)).stored().segment().byteSize();
            assertTrue(first.toDevice() >= once, first.describe() + ", expected at least " + once);
            assertTrue(first.toDevice() <= once + 65536, first.describe() + ": E, W_EE and c_attn cross once (" + once + " bytes)");
            for (HeadId h : all) qk.head(h, Progress.NONE);
            var second = gpu.transfers().minus(first);
            assertEquals(0, second.toDevice(), "everything was resident: " + second.describe());
            assertTrue(second.toHost() <= 12L * 2000 * 3 * Long.BYTES + 12L * 16384 * 24, second.describe());
            var phases = qk.phaseBytes();
            // what came back during the heads is the phases' (U and W_EE go up outside them, on the first head's way in)
            assertEquals(gpu.transfers().minus(setup).toHost(), phases[0].toHost() + phases[1].toHost(), "the phases add up");
        }
    }

    @Test
    void theFactoredDevicePathMatchesTheHostFactorPath() throws IOException {
        try (Model m = model(); Backend cpu = OpenBlasBackend.open(Optional.empty(), 2); CublasBackend gpu = cublas(false);
             EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, cpu, dir.resolve("cache"), Progress.NONE, s -> {});
             FullVocabQK onCpu = new FullVocabQK(m, cpu, t.matrix()); FullVocabQK onGpu = new FullVocabQK(m, gpu, t.matrix());
             io.headscan.circuits.OvCircuit ovCpu = new io.headscan.circuits.OvCircuit(m, cpu, t.matrix());
             io.headscan.circuits.OvCircuit ovGpu = new io.headscan.circuits.OvCircuit(m, gpu, t.matrix())) {
            for (HeadId h : List.of(new HeadId(2, 3), new HeadId(1, 0))) {
                var want = onCpu.head(h, Progress.NONE);
                var got = onGpu.head(h, Progress.NONE);
                assertEquals(want.meanDiagProb(), got.meanDiagProb(), 2e-6, h + " mean_diag_prob");
                assertEquals(want.ranks().meanRank(), got.ranks().meanRank(), 0.05, h + " mean rank");
                var ovWant = ovCpu.ranks(h, Progress.NONE);
                var ovGot = ovGpu.ranks(h, Progress.NONE);
                assertEquals(ovWant.negative().fracRank0(), ovGot.negative().fracRank0(), 1.0 / 2000, h + " OV negative rank0");
                assertEquals(ovWant.positive().meanRank(), ovGot.positive().meanRank(), 0.05, h + " OV positive mean");
            }
        }
    }

    @Test
    void sgemmMatchesOpenBlasForEveryTransposeAndStride() {
        try (CublasBackend gpu = cublas(false); Backend cpu = OpenBlasBackend.open(Optional.empty(), 2); Arena arena = Arena.ofShared()) {
            Random rnd = new Random(4);
            for (Transpose ta : Transpose.values()) {
                for (Transpose tb : Transpose.values()) {
                    int m = 37, n = 53, k = 64;
                    Matrix a = random(arena, ta.on() ? k : m, ta.on() ? m : k, 3, rnd);
                    Matrix b = random(arena, tb.on() ? n : k, tb.on() ? k : n, 5, rnd);
                    Matrix c1 = random(arena, m, n, 2, rnd), c2 = copy(arena, c1);
                    cpu.gemm(0.5f, a, ta, b, tb, 0.25f, c1);
                    gpu.gemm(0.5f, a, ta, b, tb, 0.25f, c2);
                    for (int i = 0; i < m; i++) for (int j = 0; j < n + 2; j++) {
                        float want = c1.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, (long) i * c1.ld() + j);
                        float got = c2.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, (long) i * c2.ld() + j);
                        assertEquals(want, got, 1e-4f * (1 + Math.abs(want)), ta + "/" + tb + " (" + i + ", " + j + "), gaps included");
                    }
                }
            }
        }
    }

    /** rows × cols with ld = cols + gap, gap filled too (it must survive a GEMM into the matrix). */
    private static Matrix random(Arena arena, int rows, int cols, int gap, Random rnd) {
        int ld = cols + gap;
        var seg = arena.allocate((long) rows * ld * 4 + (long) gap * 4);
        for (long i = 0; i < seg.byteSize() / 4; i++) seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) rnd.nextGaussian());
        return new Matrix(seg, 0, rows, cols, ld);
    }

    private static Matrix copy(Arena arena, Matrix m) {
        var seg = arena.allocate(m.segment().byteSize());
        seg.copyFrom(m.segment());
        return new Matrix(seg, m.offset(), m.rows(), m.cols(), m.ld());
    }

    private Model model() throws IOException {
        new SyntheticGpt2(new Dims(2000, 64, 3, 4, 128, 16), 9, List.of(new HeadId(2, 3))).write(dir.resolve("m"), 2);
        return Model.open(dir.resolve("m"));
    }

    @Test
    void scoresMatchTheCpuWithin1e5InFp32() throws IOException {
        try (Model m = model(); CublasBackend gpu = cublas(false); Backend cpu = OpenBlasBackend.open(Optional.empty(), 2)) {
            List<int[]> bags = Bags.random(2000, 64, 4, 3, false);
            var want = new PredictionAttention(m, cpu, Variant.HACKATHON).score(bags, Progress.NONE);
            var got = new PredictionAttention(m, gpu, Variant.HACKATHON).score(bags, Progress.NONE);
            for (int l = 0; l < 3; l++) for (int h = 0; h < 4; h++) assertEquals(want.scores()[l][h], got.scores()[l][h], 1e-5, l + "." + h);
        }
    }

    @Test
    void fullVocabularyStatisticsMatchInFp32AndStayCloseInTf32() throws IOException {
        try (Model m = model(); Backend cpu = OpenBlasBackend.open(Optional.empty(), 2)) {
            for (boolean tf32 : new boolean[] {false, true}) {
                try (CublasBackend gpu = cublas(tf32);
                     EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, cpu, dir.resolve("cache"), Progress.NONE, s -> {});
                     FullVocabQK onCpu = new FullVocabQK(m, cpu, t.matrix()); FullVocabQK onGpu = new FullVocabQK(m, gpu, t.matrix())) {
                    assertTrue(gpu.fusedReductionAvailable(), gpu.describe());
                    for (HeadId h : List.of(new HeadId(2, 3), new HeadId(0, 1))) {
                        var want = onCpu.head(h, Progress.NONE);
                        var got = onGpu.head(h, Progress.NONE);
                        // TF32 keeps 10 mantissa bits: within 2% of the expected value, relative (an absolute bound would let
                        // a zero pass for a head whose true value is about 1/V)
                        double tol = tf32 ? 0.02 * Math.abs(want.meanDiagProb()) : 2e-6;
                        assertTrue(want.meanDiagProb() > 0, h + ": the expected value is positive");
                        assertEquals(want.meanDiagProb(), got.meanDiagProb(), tol, h + (tf32 ? " TF32 (relative 2%)" : " FP32"));
                        assertEquals(want.ranks().fracRank0(), got.ranks().fracRank0(), tf32 ? 0.01 : 1.0 / 2000, h + " frac_rank0");
                    }
                }
            }
        }
    }

    /**
     * W_EE on the device: the row steps run as CUDA kernels in a device workspace, the weights W_EE reads cross once
     * (E and layer 0: less than the checkpoint), and what comes back is exactly the V × d result; it equals OpenBLAS's
     * within FP32 rounding, for every variant.
     */
    @Test
    void embedRunsOnTheDeviceAndBringsBackOnlyItsRows() throws IOException {
        try (Model m = model(); CublasBackend gpu = cublas(false); Backend cpu = OpenBlasBackend.open(Optional.empty(), 2);
             Arena arena = Arena.ofShared()) {
            try (var ws = gpu.workspace()) {
                assertInstanceOf(DeviceWorkspace.class, ws, "this build's CUDA row kernels loaded: " + gpu.describe());
            }
            int v = m.dims().vocab(), d = m.dims().dModel();
            for (Variant variant : Variant.values()) {
                Matrix want = Matrix.allocate(arena, v, d), got = Matrix.allocate(arena, v, d);
                new io.headscan.circuits.EffectiveEmbedding(m, cpu, variant).computeAll(want, Progress.NONE);
                var before = gpu.transfers();
                new io.headscan.circuits.EffectiveEmbedding(m, gpu, variant).computeAll(got, Progress.NONE);
                var moved = gpu.transfers().minus(before);
                assertTrue(moved.toDevice() <= java.nio.file.Files.size(m.path()), variant + ": " + moved.describe());
                assertEquals((long) v * d * Float.BYTES, moved.toHost(), variant + ": only the result comes back");
                for (int t = 0; t < v; t++) for (int j = 0; j < d; j++) {
                    assertEquals(want.get(t, j), got.get(t, j), 2e-5 * (1 + Math.abs(want.get(t, j))), variant + " W_EE[" + t + ", " + j + "]");
                }
            }
        }
    }

    /** reduceFactored takes tensors of the backend's own device workspace only, and says which argument is not. */
    @Test
    void theFactoredReductionRefusesTensorsOfAnotherWorkspace() {
        try (CublasBackend gpu = cublas(false); Backend cpu = OpenBlasBackend.open(Optional.empty(), 1); Arena arena = Arena.ofShared();
             var host = cpu.workspace(); var dev = gpu.workspace()) {
            var x = dev.allocate(10, 8);
            var foreign = host.allocate(10, 8);
            Matrix w = Matrix.allocate(arena, 8, 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpu.reduceFactored(x, null, w, Transpose.NO, foreign, null, w,
                    Transpose.NO, 1f, new double[10], new long[10], new long[10], n -> { }));
            assertTrue(e.getMessage().startsWith("x2 is a tensor of openblas host memory"), e.getMessage());
        }
    }

    /**
     * One backend over checkpoints opened one after another, as in a sweep: the second is often mapped at the first
     * one's address with the same size, and must not be computed with the first one's device copies.
     */
    @Test
    void checkpointsOpenedOneAfterAnotherAreNotConfused() throws IOException {
        Dims dims = new Dims(2000, 64, 3, 4, 128, 16);
        try (CublasBackend gpu = cublas(false); Backend cpu = OpenBlasBackend.open(Optional.empty(), 2)) {
            List<int[]> bags = Bags.random(2000, 64, 4, 3, false);
            for (int seed = 1; seed <= 3; seed++) {
                Path d = dir.resolve("seq" + seed);
                new SyntheticGpt2(dims, seed, List.of(new HeadId(seed % 3, seed))).write(d, 2);
                try (Model m = Model.open(d);
                     EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, cpu, dir.resolve("cache"), Progress.NONE, s -> {});
                     FullVocabQK onCpu = new FullVocabQK(m, cpu, t.matrix()); FullVocabQK onGpu = new FullVocabQK(m, gpu, t.matrix())) {
                    var want = new PredictionAttention(m, cpu, Variant.HACKATHON).score(bags, Progress.NONE);
                    var got = new PredictionAttention(m, gpu, Variant.HACKATHON).score(bags, Progress.NONE);
                    for (int l = 0; l < 3; l++) for (int h = 0; h < 4; h++) {
                        assertEquals(want.scores()[l][h], got.scores()[l][h], 1e-5, "checkpoint " + seed + ", score of " + l + "." + h);
                    }
                    HeadId h = new HeadId(seed % 3, seed);
                    assertEquals(onCpu.head(h, Progress.NONE).meanDiagProb(), onGpu.head(h, Progress.NONE).meanDiagProb(), 2e-6,
                            "checkpoint " + seed + ", " + h);
                }
            }
        }
    }
}
