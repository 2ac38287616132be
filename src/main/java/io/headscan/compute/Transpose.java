package io.headscan.compute;

/** Whether a GEMM operand is used as stored or transposed. */
public enum Transpose {
    NO, YES;

    public boolean on() {
        return this == YES;
    }
}
