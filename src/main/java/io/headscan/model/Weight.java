package io.headscan.model;

/**
 * A weight in the orientation the science uses ({@code x @ W}, docs/science.md §0 and §9), over the tensor as the file
 * stores it. GPT-2's Conv1D weights are stored [in, out] and used as they are; a Linear weight is stored [out, in], so
 * its canonical form is the transpose of what is stored: {@code transposed} says so, and BLAS receives the stored block
 * with its transpose flag instead of a copy.
 *
 * @param stored     the block of the tensor as stored (a view into the mapping, or into a widened copy)
 * @param transposed whether the canonical weight is {@code storedᵀ}
 */
public record Weight(Matrix stored, boolean transposed) {

    /** A weight used as stored. */
    public static Weight of(Matrix m) {
        return new Weight(m, false);
    }

    /** Rows of the canonical weight (its input dimension). */
    public int rows() {
        return transposed ? stored.cols() : stored.rows();
    }

    /** Columns of the canonical weight (its output dimension). */
    public int cols() {
        return transposed ? stored.rows() : stored.cols();
    }

    /** Element (r, c) of the canonical weight. */
    public float get(int r, int c) {
        return transposed ? stored.get(c, r) : stored.get(r, c);
    }

    /** Canonical rows r0 .. r0 + n − 1 (stored columns when transposed): the same memory. */
    public Weight rowBlock(int r0, int n) {
        return transposed ? new Weight(stored.block(0, r0, stored.rows(), n), true) : new Weight(stored.rows(r0, n), false);
    }

    /** Canonical columns c0 .. c0 + n − 1 (stored rows when transposed): the same memory. */
    public Weight columnBlock(int c0, int n) {
        return transposed ? new Weight(stored.rows(c0, n), true) : new Weight(stored.block(0, c0, stored.rows(), n), false);
    }

    /** The canonical weight copied to a row-major array (small weights and tests). */
    public float[] toArray() {
        int r = rows(), c = cols();
        float[] out = new float[r * c];
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) out[i * c + j] = get(i, j);
        return out;
    }
}
