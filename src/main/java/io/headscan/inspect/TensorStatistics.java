package io.headscan.inspect;

import io.headscan.Progress;
import io.headscan.format.DType;
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

    /** Reads element i as float. */
    private interface Reader {
        float get(long i);
    }

    public static TensorStatistics of(SafetensorsFile file, TensorInfo t, Progress progress) {
        if (!t.dtype().readableAsFloat()) throw new IllegalArgumentException("statistics need a float tensor; " + t.name() + " is " + t.dtype());
        MemorySegment seg = file.segment(t);
        Reader r = switch (t.dtype()) {
            case F32 -> i -> seg.getAtIndex(SafetensorsFile.F32_LE, i);
            case F16 -> i -> Float.float16ToFloat(seg.getAtIndex(SafetensorsFile.I16_LE, i));
            case BF16 -> i -> Float.intBitsToFloat((seg.getAtIndex(SafetensorsFile.I16_LE, i) & 0xffff) << 16);
            default -> throw new IllegalStateException();
        };
        long n = t.elementCount();
        int bytes = t.dtype().bytes();
        return reduce(n, r, progress, bytes);
    }

    /** Statistics of a (possibly strided) matrix view, e.g. one head's W_Q inside c_attn. */
    public static TensorStatistics of(Matrix m) {
        int cols = m.cols();
        return reduce((long) m.rows() * cols, i -> m.get((int) (i / cols), (int) (i % cols)), Progress.NONE, 4);
    }

    private static TensorStatistics reduce(long n, Reader r, Progress progress, int bytesPerElement) {
        long chunks = (n + CHUNK - 1) / CHUNK;
        Part total = LongStream.range(0, chunks).parallel().mapToObj(c -> {
            long from = c * CHUNK, to = Math.min(n, from + CHUNK);
            Part p = chunk(r, from, to);
            progress.advance((to - from) * bytesPerElement);
            return p;
        }).reduce(Part.EMPTY, Part::merge);
        double std = total.n > 0 ? Math.sqrt(total.m2 / total.n) : Double.NaN;
        return new TensorStatistics(n, total.n, total.nan, total.inf,
                total.n > 0 ? total.min : Double.NaN, total.n > 0 ? total.max : Double.NaN,
                total.n > 0 ? total.mean : Double.NaN, std, Math.sqrt(total.sumSq));
    }

    private static Part chunk(Reader r, long from, long to) {
        long k = 0, nan = 0, inf = 0;
        double sum = 0, min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        for (long i = from; i < to; i++) {
            float v = r.get(i);
            if (Float.isNaN(v)) { nan++; continue; }
            if (Float.isInfinite(v)) { inf++; continue; }
            k++;
            sum += v;
            if (v < min) min = v;
            if (v > max) max = v;
        }
        if (k == 0) return new Part(0, 0, 0, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 0, nan, inf);
        double mean = sum / k, m2 = 0, sumSq = 0;
        for (long i = from; i < to; i++) {
            float v = r.get(i);
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
