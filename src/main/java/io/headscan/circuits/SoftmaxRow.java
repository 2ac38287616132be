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

    /**
     * exp(x) for x ≤ 0 with a relative error of about 2e-7: x·log2(e) = k + f with k = round, |f| ≤ 1/2,
     * 2^f by its degree-7 Taylor polynomial, 2^k by exponent arithmetic. Below −87 the result is 0.
     */
    static double exp(float x) {
        if (x < -87f) return 0;
        float y = x * LOG2E;
        float k = Math.round(y);
        float f = y - k;
        // c_n = ln(2)^n / n!
        float p = 1.5252734e-5f;
        p = p * f + 1.5403530e-4f;
        p = p * f + 1.3333558e-3f;
        p = p * f + 9.6181291e-3f;
        p = p * f + 5.5504109e-2f;
        p = p * f + 2.4022651e-1f;
        p = p * f + 6.9314718e-1f;
        p = p * f + 1.0f;
        return Float.intBitsToFloat(((int) k + 127) << 23) * p;
    }
}
