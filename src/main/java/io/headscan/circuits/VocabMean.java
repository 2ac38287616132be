package io.headscan.circuits;

import io.headscan.CacheFolder;
import io.headscan.model.Matrix;
import io.headscan.model.Model;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;

/**
 * colmean(E): the mean over the vocabulary of the rows of {@code wte}, the one full-vocabulary pass that
 * center_unembed (docs/science.md §1) needs even when only a few columns of U are wanted. It is d floats, but
 * reading all of E (154 MB for GPT-2 Small, every page faulted in) is the slowest step of a {@code score} run, so
 * the result is remembered per checkpoint file ({@link FileMemo}, under {@code vocab-mean/}) with its shape;
 * anything unreadable is recomputed. -Dheadscan.vocabMeanCache=false (or HEADSCAN_VOCAB_MEAN_CACHE=0) turns it off.
 */
final class VocabMean {

    /** HSVMEAN3: the mean in double, the same bits whatever computed it (HSVMEAN2 files came from a float GEMM). */
    static final byte[] MAGIC = "HSVMEAN3".getBytes(StandardCharsets.US_ASCII);

    private VocabMean() {}

    /** colmean(E) [d], from the cache when this file's is there, else computed (and remembered when possible). */
    static float[] of(Model model) {
        return of(model, CacheFolder.root());
    }

    /** As {@link #of(Model)}, with the cache under {@code cacheRoot}. */
    static float[] of(Model model, Path cacheRoot) {
        int v = model.dims().vocab(), d = model.dims().dModel();
        Optional<FileMemo> memo = enabled() ? FileMemo.of(NonFinite.memoFiles(model), cacheRoot, "vocab-mean", ".f32") : Optional.empty();
        Optional<float[]> cached = memo.flatMap(m -> m.read(MAGIC)).map(p -> decode(p, v, d));
        if (cached.isPresent() && cached.get() != null) return cached.get();
        float[] mean = compute(model);
        memo.ifPresent(m -> m.write(MAGIC, encode(mean, v)));
        return mean;
    }

    static Optional<FileMemo> memo(Path file, Path cacheRoot) {
        return FileMemo.of(file, cacheRoot, "vocab-mean", ".f32");
    }

    /** Rows per partial sum: fixed, so that the order of every addition is the same whatever the thread count. */
    private static final int CHUNK = 4096;

    /**
     * colmean(E), summed in double: each chunk of {@value #CHUNK} rows by one thread, the chunks then added in order. The
     * bits depend on E alone, never on the backend, its thread count or TF32, so a cached mean is the mean any run would
     * compute (a float GEMM's was not: OpenBLAS splits it by thread count).
     */
    static float[] compute(Matrix e) {
        return compute(e.rows(), e.cols(), (t, row, scratch) -> Rows.read(e, t, row));
    }

    /**
     * The same sums over the model's unembedding, a row at a time ({@link Model#tableRow}): an F16/BF16 table is never
     * widened whole (a 7B model's would be 0.5 GB), and every row's floats are the ones a widened table would hold.
     */
    static float[] compute(Model model) {
        return compute(model.dims().vocab(), model.dims().dModel(), (t, row, scratch) -> model.tableRow(Model.Role.UNEMBED, t, row, scratch));
    }

    private interface RowReader {
        void read(int t, float[] row, short[] scratch);
    }

    private static float[] compute(int v, int d, RowReader rows) {
        int chunks = (v + CHUNK - 1) / CHUNK;
        double[][] partial = new double[chunks][];
        java.util.stream.IntStream.range(0, chunks).parallel().forEach(c -> {
            double[] acc = new double[d];
            float[] row = new float[d];
            short[] scratch = new short[d];
            for (int t = c * CHUNK, end = Math.min(v, t + CHUNK); t < end; t++) {
                rows.read(t, row, scratch);
                for (int i = 0; i < d; i++) acc[i] += row[i];
            }
            partial[c] = acc;
        });
        double[] sum = new double[d];
        for (double[] p : partial) for (int i = 0; i < d; i++) sum[i] += p[i];
        float[] mean = new float[d];
        for (int i = 0; i < d; i++) mean[i] = (float) (sum[i] / v);
        return mean;
    }

    private static boolean enabled() {
        return !"false".equals(System.getProperty("headscan.vocabMeanCache"))
                && !"0".equals(System.getenv("HEADSCAN_VOCAB_MEAN_CACHE"));
    }

    /** V, d, then d floats. */
    static byte[] encode(float[] mean, int vocab) {
        ByteBuffer b = ByteBuffer.allocate(8 + mean.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(vocab).putInt(mean.length);
        for (float x : mean) b.putFloat(x);
        return b.array();
    }

    /** The mean from a payload, or null when it is for another shape. */
    static float[] decode(byte[] payload, int vocab, int d) {
        if (payload.length != 8 + d * 4) return null;
        ByteBuffer b = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
        if (b.getInt() != vocab || b.getInt() != d) return null;
        float[] mean = new float[d];
        for (int i = 0; i < d; i++) mean[i] = b.getFloat();
        return mean;
    }
}
