package io.headscan.circuits;

import io.headscan.CacheFolder;
import io.headscan.compute.Backend;
import io.headscan.compute.Transpose;
import io.headscan.model.Matrix;
import io.headscan.model.Gpt2Model;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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

    static final byte[] MAGIC = "HSVMEAN2".getBytes(StandardCharsets.US_ASCII);

    private VocabMean() {}

    /** colmean(E) [d], from the cache when this file's is there, else computed (and remembered when possible). */
    static float[] of(Gpt2Model model, Backend backend) {
        return of(model, backend, CacheFolder.root());
    }

    /** As {@link #of(Gpt2Model, Backend)}, with the cache under {@code cacheRoot}. */
    static float[] of(Gpt2Model model, Backend backend, Path cacheRoot) {
        int v = model.dims().vocab(), d = model.dims().dModel();
        Optional<FileMemo> memo = enabled() ? FileMemo.of(NonFinite.memoFiles(model), cacheRoot, "vocab-mean", ".f32") : Optional.empty();
        Optional<float[]> cached = memo.flatMap(m -> m.read(MAGIC)).map(p -> decode(p, v, d));
        if (cached.isPresent() && cached.get() != null) return cached.get();
        float[] mean = compute(model.wte(), backend);
        memo.ifPresent(m -> m.write(MAGIC, encode(mean, v)));
        return mean;
    }

    static Optional<FileMemo> memo(Path file, Path cacheRoot) {
        return FileMemo.of(file, cacheRoot, "vocab-mean", ".f32");
    }

    /** colmean(E) through one GEMV-shaped GEMM: (1/V)·1ᵀ E. */
    static float[] compute(Matrix e, Backend backend) {
        int v = e.rows(), d = e.cols();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ones = arena.allocate((long) v * 4, 64);
            float inv = 1f / v;
            for (long t = 0; t < v; t++) ones.setAtIndex(ValueLayout.JAVA_FLOAT, t, inv);
            Matrix col = Matrix.allocate(arena, 1, d);
            backend.gemm(1f, Matrix.dense(ones, 1, v), Transpose.NO, e, Transpose.NO, 0f, col);
            return col.toArray();
        }
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
