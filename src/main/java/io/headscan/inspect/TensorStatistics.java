package io.headscan.inspect;

import io.headscan.Progress;
import io.headscan.format.DType;
import io.headscan.format.MappedCheckpoint;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.TensorInfo;
import io.headscan.model.Matrix;
import java.lang.foreign.MemorySegment;
import java.util.stream.LongStream;

/**
 * Summary statistics of a tensor, computed directly on its mapped bytes (no heap copy of the data):
 * chunks are reduced in parallel, each with a two-pass mean/M2 kept in registers, and chunks are
 * merged with Chan's formula so the standard deviation stays accurate for large, offset data.
 * NaN and ±Inf are counted and left out of the other statistics.
 */
public record TensorStatistics(long count, long finite, long nanCount, long infCount,
                               double min, double max, double mean, double std, double l2) {

    private static final int CHUNK = 1 << 16;

    /** Partial result of one chunk. */
    private record Part(long n, double mean, double m2, double min, double max, double sumSq, long nan, long inf) {
        static final Part EMPTY = new Part(0, 0, 0, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 0, 0, 0);

        Part merge(Part o) {
            long n = this.n + o.n;
            double mean = 0, m2 = 0;
            if (n > 0) {
                double delta = o.mean - this.mean;
                mean = this.mean + delta * o.n / n;
                m2 = this.m2 + o.m2 + delta * delta * ((double) this.n * o.n / n);
            }
            return new Part(n, mean, m2, Math.min(min, o.min), Math.max(max, o.max), sumSq + o.sumSq, nan + o.nan, inf + o.inf);
        }
    }

    /** Copies elements [from, from + n) of the tensor, as floats, into {@code dst}. */
    private interface Source {
        void fill(long from, int n, float[] dst);
    }

    public static TensorStatistics of(MappedCheckpoint file, TensorInfo t, Progress progress) {
        if (!t.dtype().readableAsFloat()) throw new IllegalArgumentException("statistics need a float tensor; " + t.name() + " is " + t.dtype());
        MemorySegment seg = file.segment(t);
        Source src = switch (t.dtype()) {
            case F32 -> (from, n, dst) -> MemorySegment.copy(seg, SafetensorsFile.F32_LE, from * Float.BYTES, dst, 0, n);
            case F16 -> (from, n, dst) -> {
                for (int i = 0; i < n; i++) dst[i] = Float.float16ToFloat(seg.getAtIndex(SafetensorsFile.I16_LE, from + i));
            };
            case BF16 -> (from, n, dst) -> {
                for (int i = 0; i < n; i++) dst[i] = Float.intBitsToFloat((seg.getAtIndex(SafetensorsFile.I16_LE, from + i) & 0xffff) << 16);
            };
            default -> throw new IllegalStateException();
        };
        return reduce(t.elementCount(), src, progress, t.dtype().bytes());
    }

    /** Statistics of a (possibly strided) matrix view, e.g. one head's W_Q inside c_attn. */
    public static TensorStatistics of(Matrix m) {
        int cols = m.cols();
        return reduce((long) m.rows() * cols, (from, n, dst) -> {
            // elements [from, from + n) in row-major order: whole or partial rows of the view, each one bulk copy
            int done = 0;
            while (done < n) {
                long e = from + done;
                int r = (int) (e / cols), c = (int) (e % cols), take = Math.min(cols - c, n - done);
                MemorySegment.copy(m.segment(), SafetensorsFile.F32_LE, (m.offset() + (long) r * m.ld() + c) * Float.BYTES, dst, done, take);
                done += take;
            }
        }, Progress.NONE, 4);
    }

    /** One chunk's floats per worker thread, reused. */
    private static final ThreadLocal<float[]> BUFFER = ThreadLocal.withInitial(() -> new float[CHUNK]);

    private static TensorStatistics reduce(long n, Source src, Progress progress, int bytesPerElement) {
        long chunks = (n + CHUNK - 1) / CHUNK;
        LongStream range = LongStream.range(0, chunks);
        Part total = (chunks > 1 ? range.parallel() : range).mapToObj(c -> {
            long from = c * CHUNK;
            int k = (int) (Math.min(n, from + CHUNK) - from);
            float[] buf = BUFFER.get();
            src.fill(from, k, buf);
            Part p = chunk(buf, k);
            progress.advance((long) k * bytesPerElement);
            return p;
        }).reduce(Part.EMPTY, Part::merge);
        double std = total.n > 0 ? Math.sqrt(total.m2 / total.n) : Double.NaN;
        return new TensorStatistics(n, total.n, total.nan, total.inf,
                total.n > 0 ? total.min : Double.NaN, total.n > 0 ? total.max : Double.NaN,
                total.n > 0 ? total.mean : Double.NaN, std, Math.sqrt(total.sumSq));
    }

    /**
     * One chunk in one pass over deviations from a shift (the chunk's first value, so that the sums stay small and the
     * variance keeps its digits even for data far from zero), four independent accumulators each so that the additions
     * overlap: mean = shift + Σd/n, M2 = Σd² − (Σd)²/n, Σv² = Σd² + 2·shift·Σd + n·shift². A chunk whose sum is finite
     * holds no NaN or ±Inf (finite floats cannot overflow a double sum), so the per-element checks are needed only in
     * chunks where it is not.
     */
    static Part chunk(float[] a, int n) {
        if (n == 0) return new Part(0, 0, 0, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 0, 0, 0);
        double shift = a[0];
        if (!Double.isFinite(shift)) return chunkWithNonFinite(a, n);
        float min = a[0], max = a[0];
        for (int i = 0; i < n; i++) {   // a loop of its own: the JIT vectorises it
            min = Math.min(min, a[i]);
            max = Math.max(max, a[i]);
        }
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;
        int i = 0;
        for (; i + 4 <= n; i += 4) {
            double d0 = a[i] - shift, d1 = a[i + 1] - shift, d2 = a[i + 2] - shift, d3 = a[i + 3] - shift;
            s0 += d0;
            s1 += d1;
            s2 += d2;
            s3 += d3;
            q0 += d0 * d0;
            q1 += d1 * d1;
            q2 += d2 * d2;
            q3 += d3 * d3;
        }
        for (; i < n; i++) {
            double d = a[i] - shift;
            s0 += d;
            q0 += d * d;
        }
        double sum = (s0 + s1) + (s2 + s3), sq = (q0 + q1) + (q2 + q3);
        if (!Double.isFinite(sum) || !Double.isFinite(sq) || Float.isNaN(min) || Float.isNaN(max)) return chunkWithNonFinite(a, n);
        double m2 = Math.max(0, sq - sum * sum / n);
        return new Part(n, shift + sum / n, m2, min, max, sq + 2 * shift * sum + n * shift * shift, 0, 0);
    }

    /** The careful loop, for a chunk that holds NaN or ±Inf: they are counted and left out. */
    private static Part chunkWithNonFinite(float[] a, int n) {
        long k = 0, nan = 0, inf = 0;
        double sum = 0, min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            float v = a[i];
            if (Float.isNaN(v)) { nan++; continue; }
            if (Float.isInfinite(v)) { inf++; continue; }
            k++;
            sum += v;
            if (v < min) min = v;
            if (v > max) max = v;
        }
        if (k == 0) return new Part(0, 0, 0, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 0, nan, inf);
        double mean = sum / k, m2 = 0, sumSq = 0;
        for (int i = 0; i < n; i++) {
            float v = a[i];
            if (Float.isNaN(v) || Float.isInfinite(v)) continue;
            double dlt = v - mean;
            m2 += dlt * dlt;
            sumSq += (double) v * v;
        }
        return new Part(k, mean, m2, min, max, sumSq, nan, inf);
    }

    /** Float tensors get statistics; others (masks stored as ints, etc.) do not. */
    public static boolean applies(DType t) {
        return t.readableAsFloat();
    }
}
