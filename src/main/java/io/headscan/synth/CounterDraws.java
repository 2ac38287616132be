package io.headscan.synth;

import java.nio.charset.StandardCharsets;

/**
 * Counter-based random draws: draw {@code i} of a stream is a pure function of the stream and {@code i} (SplitMix64:
 * its finaliser applied to the Weyl sequence {@code stream + i·γ}). Any element of any tensor is therefore computed
 * alone, in any order, on any thread, for a few multiplications: a tensor is filled in parallel blocks straight into
 * its mapping with the same bytes whatever the thread count, and a weight that another is built from (MLP0's down
 * projection is its up projection transposed) is recomputed where it is needed, never stored.
 */
final class CounterDraws {

    private CounterDraws() {}

    private static final long GAMMA = 0x9E3779B97F4A7C15L;

    /** The stream named {@code name} (a tensor's name, a planted head's) for a seed. */
    static long stream(long seed, String name) {
        long h = 0xcbf29ce484222325L;   // FNV-1a over the name's bytes
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return mix(seed * GAMMA ^ mix(h));
    }

    /** SplitMix64's finaliser (Stafford's variant 13). */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static final float UNIT = (float) (Math.sqrt(3) / 65536);

    /**
     * Draw {@code i} of the stream, close to a standard normal: the sum of the four 16-bit uniforms of one 64-bit draw
     * (Irwin–Hall), centred and scaled to unit variance, so bounded by ±2√3.
     */
    static float normal(long stream, long i) {
        long z = mix(stream + i * GAMMA);
        int s = (int) (z & 0xffff) + (int) ((z >>> 16) & 0xffff) + (int) ((z >>> 32) & 0xffff) + (int) (z >>> 48);
        return (s - 131070) * UNIT;
    }
}
