package io.headscan.circuits;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.compute.JavaBackend;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.Matrix;
import io.headscan.synth.SyntheticGpt2;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** colmean(E) and its per-file cache: right, reused, and never trusted when damaged or for another file. */
class VocabMeanTest {

    @TempDir
    Path dir;

    private void synth(long seed) throws IOException {
        new SyntheticGpt2(new Dims(300, 32, 1, 2, 64, 8), seed, List.of()).write(dir.resolve("m"), 2);
    }

    private static double[] reference(Matrix e) {
        double[] m = new double[e.cols()];
        for (int t = 0; t < e.rows(); t++) for (int i = 0; i < e.cols(); i++) m[i] += e.get(t, i) / (double) e.rows();
        return m;
    }

    private static void assertMean(double[] want, float[] got) {
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-6 * (1 + Math.abs(want[i])), "column " + i);
    }

    @Test
    void computedOnceThenReadFromTheCache() throws IOException {
        Path cache = dir.resolve("cache");
        synth(1);
        try (Model m = Model.open(dir.resolve("m"))) {
            double[] want = reference(m.embedding());
            assertMean(want, VocabMean.of(m, cache));
            FileMemo memo = VocabMean.memo(m.path(), cache).orElseThrow();
            assertTrue(Files.isRegularFile(memo.path()), "remembered in " + memo.path());
            // a valid record is believed without reading E: plant one with other numbers to see it used
            float[] planted = new float[32];
            planted[3] = 42f;
            Files.write(memo.path(), memo.encode(VocabMean.MAGIC, VocabMean.encode(planted, 300)));
            assertEquals(42f, VocabMean.of(m, cache)[3]);
            // damaged (one byte flipped): recomputed and rewritten
            byte[] bytes = Files.readAllBytes(memo.path());
            bytes[bytes.length - 10] ^= 1;
            Files.write(memo.path(), bytes);
            assertMean(want, VocabMean.of(m, cache));
            assertMean(want, VocabMean.decode(memo.read(VocabMean.MAGIC).orElseThrow(), 300, 32));
            assertNull(VocabMean.decode(memo.read(VocabMean.MAGIC).orElseThrow(), 301, 32));
        }
    }

    /** The same bits whatever the thread count: the cache may have been filled by any run. */
    @Test
    void theMeanDoesNotDependOnTheThreadCount() throws Exception {
        new SyntheticGpt2(new Dims(20_000, 32, 1, 2, 64, 8), 3, List.of()).write(dir.resolve("big"), 2);
        try (Model m = Model.open(dir.resolve("big"))) {
            float[] parallel = VocabMean.compute(m.embedding());
            float[] one = new java.util.concurrent.ForkJoinPool(1).submit(() -> VocabMean.compute(m.embedding())).get();
            assertArrayEquals(one, parallel);
            assertMean(reference(m.embedding()), parallel);
        }
    }

    @Test
    void aRewrittenCheckpointIsReadAgain() throws IOException {
        Path cache = dir.resolve("cache");
        synth(1);
        float[] first;
        try (Model m = Model.open(dir.resolve("m"))) {
            first = VocabMean.of(m, cache);
        }
        synth(2);   // same path, same size, new contents
        try (Model m = Model.open(dir.resolve("m"))) {
            float[] second = VocabMean.of(m, cache);
            assertMean(reference(m.embedding()), second);
            assertFalse(java.util.Arrays.equals(first, second));
        }
    }

    /** A half-precision unembedding is summed row by row as stored: the same bits as from the whole table widened, and it is not widened. */
    @Test
    void aHalfPrecisionTableIsSummedWithoutWideningIt() throws Exception {
        for (String form : new String[] {"llama/bf16", "pythia/bf16"}) {
            try (Model m = Model.open(Path.of("src/test/resources/families").resolve(form))) {
                float[] half = VocabMean.compute(m);
                assertFalse(m.tableInPlace(Model.Role.UNEMBED), form + ": not widened");
                assertArrayEquals(VocabMean.compute(m.unembedding()), half, form);
            }
        }
    }
}
