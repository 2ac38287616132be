package io.headscan.inspect;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.Progress;
import io.headscan.format.DType;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.SafetensorsWriter;
import io.headscan.model.Matrix;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tensor statistics against a plain double-precision computation written here: several chunks (the last one short),
 * data with a large offset (where a one-pass variance loses its digits), NaN and ±Inf in one chunk only, F16 and BF16
 * through their widening, and a strided per-head view.
 */
class TensorStatisticsTest {

    @TempDir
    Path dir;

    /** count, finite, nan, inf, min, max, mean, std (population), l2 of the values, NaN/Inf left out. */
    private static double[] reference(float[] v) {
        long finite = 0, nan = 0, inf = 0;
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY, sum = 0, sq = 0;
        for (float x : v) {
            if (Float.isNaN(x)) nan++;
            else if (Float.isInfinite(x)) inf++;
            else {
                finite++;
                sum += x;
                sq += (double) x * x;
                min = Math.min(min, x);
                max = Math.max(max, x);
            }
        }
        double mean = sum / finite, m2 = 0;
        for (float x : v) if (Float.isFinite(x)) m2 += (x - mean) * (x - mean);
        return new double[] {v.length, finite, nan, inf, min, max, mean, Math.sqrt(m2 / finite), Math.sqrt(sq)};
    }

    private static void assertMatches(double[] want, TensorStatistics got, String what) {
        assertEquals((long) want[0], got.count(), what + " count");
        assertEquals((long) want[1], got.finite(), what + " finite");
        assertEquals((long) want[2], got.nanCount(), what + " nan");
        assertEquals((long) want[3], got.infCount(), what + " inf");
        assertEquals(want[4], got.min(), 0, what + " min");
        assertEquals(want[5], got.max(), 0, what + " max");
        assertEquals(want[6], got.mean(), 1e-12 * Math.abs(want[6]) + 1e-12, what + " mean");
        assertEquals(want[7], got.std(), 1e-9 * want[7], what + " std");
        assertEquals(want[8], got.l2(), 1e-12 * want[8], what + " l2");
    }

    private static float[] values(int n, long seed, double offset) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (offset + r.nextGaussian() * 0.02);
        return v;
    }

    @Test
    void f32WithAnOffsetAndNonFiniteValuesInOneChunk() throws Exception {
        int n = 3 * 65536 + 1001;
        float[] clean = values(n, 1, 1000.0);      // std 0.02 on a mean of 1000: a one-pass variance would lose it
        float[] dirty = values(n, 2, -0.5);
        dirty[70000] = Float.NaN;
        dirty[70001] = Float.POSITIVE_INFINITY;
        dirty[131071] = Float.NEGATIVE_INFINITY;
        dirty[n - 1] = Float.NaN;                  // in the short last chunk
        new SafetensorsWriter().addF32("clean", new long[] {n}, clean).addF32("dirty", new long[] {n}, dirty).write(dir.resolve("t.safetensors"));
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("t.safetensors"))) {
            assertMatches(reference(clean), TensorStatistics.of(f, f.info("clean"), Progress.NONE), "clean");
            assertMatches(reference(dirty), TensorStatistics.of(f, f.info("dirty"), Progress.NONE), "dirty");
        }
    }

    @Test
    void halfPrecisionTensorsAreWidenedExactly() throws Exception {
        int n = 70000;
        float[] v = values(n, 3, 0.25);
        float[] asF16 = new float[n], asBf16 = new float[n];
        for (int i = 0; i < n; i++) {
            asF16[i] = Float.float16ToFloat(Float.floatToFloat16(v[i]));
            asBf16[i] = Float.intBitsToFloat(Float.floatToRawIntBits(v[i]) & 0xffff0000);   // truncated: exact in BF16
        }
        new SafetensorsWriter()
                .add("h", DType.F16, new long[] {n}, seg -> {
                    for (int i = 0; i < n; i++) seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Float.floatToFloat16(v[i]));
                })
                .add("b", DType.BF16, new long[] {n}, seg -> {
                    for (int i = 0; i < n; i++) seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) (Float.floatToRawIntBits(asBf16[i]) >>> 16));
                })
                .write(dir.resolve("h.safetensors"));
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("h.safetensors"))) {
            assertMatches(reference(asF16), TensorStatistics.of(f, f.info("h"), Progress.NONE), "F16");
            assertMatches(reference(asBf16), TensorStatistics.of(f, f.info("b"), Progress.NONE), "BF16");
        }
    }

    @Test
    void aStridedViewSeesOnlyItsOwnColumns() throws Exception {
        int rows = 700, ld = 300, c0 = 64, cols = 64;   // one head's block of a wider matrix; 44,800 elements, rows split across no chunk edge
        float[] all = values(rows * ld, 4, 0.0);
        float[] block = new float[rows * cols];
        for (int r = 0; r < rows; r++) System.arraycopy(all, r * ld + c0, block, r * cols, cols);
        new SafetensorsWriter().addF32("w", new long[] {rows, ld}, all).write(dir.resolve("w.safetensors"));
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("w.safetensors"))) {
            Matrix m = Matrix.dense(f.segment("w"), rows, ld).block(0, c0, rows, cols);
            assertMatches(reference(block), TensorStatistics.of(m), "view");
            Matrix tall = Matrix.dense(f.segment("w"), rows, ld).block(0, 7, rows, 250);   // 175,000 elements: chunks end mid-row
            float[] tallValues = new float[rows * 250];
            for (int r = 0; r < rows; r++) System.arraycopy(all, r * ld + 7, tallValues, r * 250, 250);
            assertMatches(reference(tallValues), TensorStatistics.of(tall), "view across chunks");
        }
    }
}
