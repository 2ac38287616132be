package io.headscan.circuits;

import io.headscan.AtomicFiles;
import io.headscan.CacheFolder;
import io.headscan.compute.Backend;
import io.headscan.compute.Transpose;
import io.headscan.model.Matrix;
import io.headscan.model.Gpt2Model;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * colmean(E): the mean over the vocabulary of the rows of {@code wte}, the one full-vocabulary pass that
 * center_unembed (science-spec §1) needs even when only a few columns of U are wanted. It is d floats, but
 * reading all of E (154 MB for GPT-2 Small, every page faulted in) is the slowest step of a {@code score} run, so
 * the result is remembered in the cache under {@code vocab-mean/}, keyed by the checkpoint file's real path,
 * size, modification time and inode (a rewritten file is read again), which the record holds in full. The record carries its shape and a
 * CRC32C; anything unreadable is recomputed. -Dheadscan.vocabMeanCache=false (or HEADSCAN_VOCAB_MEAN_CACHE=0)
 * turns the cache off.
 */
final class VocabMean {

    private static final byte[] MAGIC = "HSVMEAN1".getBytes(StandardCharsets.US_ASCII);

    private VocabMean() {}

    /** colmean(E) [d], from the cache when this file's is there, else computed (and remembered when possible). */
    static float[] of(Gpt2Model model, Backend backend) {
        return of(model, backend, CacheFolder.root());
    }

    /** As {@link #of(Gpt2Model, Backend)}, with the cache under {@code cacheRoot}. */
    static float[] of(Gpt2Model model, Backend backend, Path cacheRoot) {
        int v = model.dims().vocab(), d = model.dims().dModel();
        Entry entry = enabled() ? entry(model.path(), cacheRoot) : null;
        if (entry != null) {
            float[] cached = read(entry.path(), entry.key(), v, d);
            if (cached != null) return cached;
        }
        float[] mean = compute(model.wte(), backend);
        if (entry != null) {
            try {
                AtomicFiles.write(entry.path(), encode(entry.key(), mean, v));
            } catch (IOException ignored) {
                // a read-only cache only costs the pass over E next time
            }
        }
        return mean;
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

    /** The cache file for this checkpoint file and the key it must hold, or null when the file cannot be identified. */
    static Entry entry(Path file, Path cacheRoot) {
        try {
            Path real = file.toRealPath();
            Object inode = Files.getAttribute(real, "unix:ino");
            String key = real + "\n" + Files.size(real) + "\n" + Files.getLastModifiedTime(real).to(TimeUnit.NANOSECONDS) + "\n" + inode;
            byte[] k = key.getBytes(StandardCharsets.UTF_8);
            long h = 0xcbf29ce484222325L;   // FNV-1a: names the file; the full key inside it decides
            for (byte b : k) h = (h ^ (b & 0xff)) * 0x100000001b3L;
            return new Entry(cacheRoot.resolve("vocab-mean").resolve(HexFormat.of().toHexDigits(h) + ".f32"), k);
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return null;
        }
    }

    record Entry(Path path, byte[] key) {}

    /** MAGIC, key length, key, V, d, d floats, CRC32C of all before it; little-endian. */
    static byte[] encode(byte[] key, float[] mean, int vocab) {
        ByteBuffer b = ByteBuffer.allocate(MAGIC.length + 4 + key.length + 8 + mean.length * 4 + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).putInt(key.length).put(key).putInt(vocab).putInt(mean.length);
        for (float x : mean) b.putFloat(x);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }

    /** The cached mean, or null when missing, damaged, for another file or for another shape. */
    static float[] read(Path entry, byte[] key, int vocab, int d) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(entry);
        } catch (IOException e) {
            return null;
        }
        if (bytes.length != MAGIC.length + 4 + key.length + 8 + d * 4 + 4) return null;
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        if ((int) crc.getValue() != b.getInt(bytes.length - 4)) return null;
        byte[] magic = new byte[MAGIC.length];
        b.get(magic);
        if (!java.util.Arrays.equals(magic, MAGIC) || b.getInt() != key.length) return null;
        byte[] stored = new byte[key.length];
        b.get(stored);
        if (!java.util.Arrays.equals(stored, key) || b.getInt() != vocab || b.getInt() != d) return null;
        float[] mean = new float[d];
        for (int i = 0; i < d; i++) mean[i] = b.getFloat();
        return mean;
    }
}
