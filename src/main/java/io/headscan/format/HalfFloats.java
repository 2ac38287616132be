package io.headscan.format;

import java.lang.foreign.MemorySegment;

/**
 * F16 and BF16 to and from F32, in bulk: through two small arrays with two bulk copies around a loop the JIT
 * vectorises. BF16 is the upper half of an F32; narrowing rounds to the nearest, ties to even (as PyTorch does).
 */
public final class HalfFloats {

    private HalfFloats() {}

    /**
     * {@code len} 16-bit floats from element {@code from} of {@code src} to F32 at element {@code to} of {@code dst},
     * through the caller's arrays (at least {@code len} long).
     */
    public static void widen(MemorySegment src, long from, MemorySegment dst, long to, int len, boolean f16, short[] bits, float[] out) {
        widen(src, from, out, len, f16, bits);
        MemorySegment.copy(out, 0, dst, SafetensorsFile.F32_LE, to * Float.BYTES, len);
    }

    /** {@code len} 16-bit floats from element {@code from} of {@code src} into {@code out[0 .. len)}. */
    public static void widen(MemorySegment src, long from, float[] out, int len, boolean f16, short[] bits) {
        MemorySegment.copy(src, SafetensorsFile.I16_LE, from * Short.BYTES, bits, 0, len);
        if (f16) {
            for (int i = 0; i < len; i++) out[i] = Float.float16ToFloat(bits[i]);
        } else {
            for (int i = 0; i < len; i++) out[i] = Float.intBitsToFloat((bits[i] & 0xffff) << 16);
        }
    }

    /** {@code len} F32 values from element {@code from} of {@code src} to 16-bit floats at element {@code to} of {@code dst}. */
    public static void narrow(MemorySegment src, long from, MemorySegment dst, long to, int len, boolean f16, float[] in, short[] bits) {
        MemorySegment.copy(src, SafetensorsFile.F32_LE, from * Float.BYTES, in, 0, len);
        if (f16) {
            for (int i = 0; i < len; i++) bits[i] = Float.floatToFloat16(in[i]);
        } else {
            for (int i = 0; i < len; i++) bits[i] = toBfloat16(in[i]);
        }
        MemorySegment.copy(bits, 0, dst, SafetensorsFile.I16_LE, to * Short.BYTES, len);
    }

    /** x rounded to the nearest F16 (or BF16) value, as F32: what storing it in half precision keeps. */
    public static float roundTrip(float x, boolean f16) {
        return f16 ? Float.float16ToFloat(Float.floatToFloat16(x)) : Float.intBitsToFloat((toBfloat16(x) & 0xffff) << 16);
    }

    /** The BF16 nearest to x (ties to even): the upper half of its F32 bits, rounded; NaN stays NaN. */
    public static short toBfloat16(float x) {
        int bits = Float.floatToRawIntBits(x);
        if (Float.isNaN(x)) return (short) ((bits >>> 16) | 0x40);
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** Elements per chunk of {@link #widenAll}. */
    private static final int CHUNK = 1 << 16;

    /** All {@code n} 16-bit floats of {@code src} to F32 in {@code dst}, chunks split across the cores. */
    public static void widenAll(MemorySegment src, MemorySegment dst, long n, boolean f16) {
        long chunks = (n + CHUNK - 1) / CHUNK;
        java.util.stream.LongStream ids = java.util.stream.LongStream.range(0, chunks);
        (chunks > 8 ? ids.parallel() : ids).forEach(c -> {
            long from = c * CHUNK;
            int len = (int) Math.min(CHUNK, n - from);
            widen(src, from, dst, from, len, f16, new short[len], new float[len]);
        });
    }
}
