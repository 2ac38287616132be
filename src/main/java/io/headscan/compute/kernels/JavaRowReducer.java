package io.headscan.compute.kernels;

import io.headscan.format.SafetensorsFile;
import java.lang.foreign.MemorySegment;

/**
 * The Java version of the row reduction: one pass per row with an online maximum (rescaling the sum
 * when the maximum grows) and a Cody–Waite exp with a degree-7 polynomial (relative error ~1e-7).
 */
public final class JavaRowReducer implements RowReducer {

    public static final JavaRowReducer INSTANCE = new JavaRowReducer();

    private JavaRowReducer() {}

    @Override
    public String name() {
        return "java";
    }

    @Override
    public void reduce(MemorySegment tile, long offset, int rows, int cols, int ld, long[] diag,
                       float[] max, double[] sumExp, long[] greater, long[] less) {
        float[] row = new float[cols];
        for (int i = 0; i < rows; i++) {
            MemorySegment.copy(tile, SafetensorsFile.F32_LE, (offset + (long) i * ld) * Float.BYTES, row, 0, cols);
            float ref = row[(int) diag[i]];
            float m = Float.NEGATIVE_INFINITY;
            double sum = 0;
            long g = 0, l = 0;
            for (int j = 0; j < cols; j++) {
                float x = row[j];
                if (x > ref) g++;
                else if (x < ref) l++;
                if (x > m) {
                    sum = sum * exp(m - x) + 1;
                    m = x;
                } else {
                    sum += exp(x - m);
                }
            }
            max[i] = m;
            sumExp[i] = sum;
            greater[i] = g;
            less[i] = l;
        }
    }

    @Override
    public void reduceBlock(MemorySegment tile, long offset, int rows, int cols, int ld, float[] ref,
                            double[] sumExpRef, long[] greater, long[] less) {
        float[] row = new float[cols];
        for (int i = 0; i < rows; i++) {
            MemorySegment.copy(tile, SafetensorsFile.F32_LE, (offset + (long) i * ld) * Float.BYTES, row, 0, cols);
            float r = ref[i];
            double sum = 0;
            long g = 0, l = 0;
            for (int j = 0; j < cols; j++) {
                float x = row[j];
                if (x > r) g++;
                else if (x < r) l++;
                sum += Math.exp((double) x - r);
            }
            sumExpRef[i] += sum;
            greater[i] += g;
            less[i] += l;
        }
    }

    private static final float LOG2E = 1.4426950408889634f;
    private static final float LN2_HI = 0.693145751953125f;   // exactly representable, low bits zero
    private static final float LN2_LO = 1.42860682030941723212e-6f;

    /**
     * exp(x) for x ≤ 0: k = round(x / ln 2), r = x − k·ln 2 in two parts (Cody–Waite), e^r by its degree-7
     * Taylor polynomial on |r| ≤ ln(2)/2, times 2^k by exponent arithmetic. Below −87 the result is 0.
     */
    public static double exp(float x) {
        if (x < -87f) return 0;
        float k = Math.round(x * LOG2E);
        float r = (x - k * LN2_HI) - k * LN2_LO;
        float p = 1.9841270e-4f;          // 1/7!
        p = p * r + 1.3888889e-3f;        // 1/6!
        p = p * r + 8.3333333e-3f;        // 1/5!
        p = p * r + 4.1666667e-2f;        // 1/4!
        p = p * r + 1.6666667e-1f;        // 1/3!
        p = p * r + 0.5f;
        p = p * r + 1.0f;
        p = p * r + 1.0f;
        return Float.intBitsToFloat(((int) k + 127) << 23) * p;
    }
}
