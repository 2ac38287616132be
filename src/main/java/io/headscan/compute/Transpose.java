package io.headscan.compute;

/** Whether a GEMM operand is used as stored or transposed. */
public enum Transpose {
    NO, YES;

    public boolean on() {
        return this == YES;
    }

    /** YES for a weight stored transposed (a Linear [out, in]: {@link io.headscan.model.Weight#transposed()}). */
    public static Transpose of(boolean transposed) {
        return transposed ? YES : NO;
    }

    /** op(op(x)): YES twice is NO. */
    public Transpose then(Transpose t) {
        return this == t ? NO : YES;
    }
}
