package io.headscan.circuits;

/**
 * One pass over a row of scores: the online maximum and sum of exp(x − max) (so the log-sum-exp
 * needs no second pass and never overflows), and the count of entries strictly greater than a
 * reference value (the rank of the diagonal, science-spec §4).
 */
final class SoftmaxRow {

    private SoftmaxRow() {}

    /** Result for one row: max, Σ exp(x − max), #{x > ref}, #{x < ref}. */
    record Reduction(float max, double sumExp, int greater, int less) {

        /** log Σ exp(x). */
        double logSumExp() {
            return max + Math.log(sumExp);
        }
    }

    static Reduction reduce(float[] row, int n, float ref) {
        float m = Float.NEGATIVE_INFINITY;
        double sum = 0;
        int greater = 0, less = 0;
        for (int j = 0; j < n; j++) {
            float x = row[j];
            if (x > ref) greater++;
            else if (x < ref) less++;
            if (x > m) {
                sum = sum * exp(m - x) + 1;
                m = x;
            } else {
                sum += exp(x - m);
            }
        }
        return new Reduction(m, sum, greater, less);
    }

    private static final float LOG2E = 1.4426950408889634f;
    private static final float LN2_HI = 0.693145751953125f;   // exactly representable, low bits zero
    private static final float LN2_LO = 1.42860682030941723212e-6f;

    /**
     * exp(x) for x ≤ 0 with a relative error of about 1e-7: k = round(x / ln 2), r = x − k·ln 2 in two
     * parts (Cody–Waite, so r is exact to float precision), e^r by its degree-7 Taylor polynomial on
     * |r| ≤ ln(2)/2, times 2^k by exponent arithmetic. Below −87 the result is 0 (float underflow).
     */
    static double exp(float x) {
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
