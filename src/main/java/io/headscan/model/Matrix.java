package io.headscan.model;

import io.headscan.format.SafetensorsFile;
import java.lang.foreign.MemorySegment;

/**
 * A row-major float32 matrix view into a memory segment: element (r, c) lives at float index
 * {@code offset + r * ld + c}. Views share the underlying memory (a mapped file, or an off-heap
 * buffer); slicing a head's block out of {@code c_attn} is just a different offset and the same
 * leading dimension, which BLAS accepts as is.
 *
 * @param segment base memory (little-endian floats, alignment not required)
 * @param offset  index, in floats, of element (0, 0)
 * @param rows    number of rows
 * @param cols    number of columns
 * @param ld      leading dimension: floats between the starts of consecutive rows (≥ cols)
 */
public record Matrix(MemorySegment segment, long offset, int rows, int cols, int ld) {

    public Matrix {
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("negative matrix size " + rows + "x" + cols);
        if (ld < Math.max(1, cols)) throw new IllegalArgumentException("ld " + ld + " < cols " + cols);
        if (offset < 0) throw new IllegalArgumentException("negative offset " + offset);
        if (rows > 0 && cols > 0) {
            long last = offset + (long) (rows - 1) * ld + cols - 1;
            if ((last + 1) * Float.BYTES > segment.byteSize()) {
                throw new IllegalArgumentException("matrix " + rows + "x" + cols + " (ld " + ld + ", offset " + offset
                        + ") runs past its " + segment.byteSize() + "-byte segment");
            }
        }
    }

    /** A new zeroed dense {@code rows × cols} matrix, freed when {@code arena} closes (large ones in huge pages: {@link io.headscan.OffHeap}). */
    public static Matrix allocate(java.lang.foreign.Arena arena, int rows, int cols) {
        return dense(io.headscan.OffHeap.allocate(arena, (long) rows * cols * Float.BYTES), rows, cols);
    }

    /** A dense matrix over a whole segment. */
    public static Matrix dense(MemorySegment segment, int rows, int cols) {
        return new Matrix(segment, 0, rows, cols, Math.max(1, cols));
    }

    public float get(int r, int c) {
        return segment.getAtIndex(SafetensorsFile.F32_LE, offset + (long) r * ld + c);
    }

    public void set(int r, int c, float v) {
        segment.setAtIndex(SafetensorsFile.F32_LE, offset + (long) r * ld + c, v);
    }

    /** The block of {@code nRows x nCols} starting at (r0, c0): same memory, same ld. */
    public Matrix block(int r0, int c0, int nRows, int nCols) {
        if (r0 < 0 || c0 < 0 || r0 + nRows > rows || c0 + nCols > cols) {
            throw new IndexOutOfBoundsException("block (" + r0 + "," + c0 + ") " + nRows + "x" + nCols + " outside " + rows + "x" + cols);
        }
        return new Matrix(segment, offset + (long) r0 * ld + c0, nRows, nCols, ld);
    }

    public Matrix rows(int r0, int nRows) {
        return block(r0, 0, nRows, cols);
    }

    /** Copies into a new row-major float array (for small matrices and tests). */
    public float[] toArray() {
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) out[r * cols + c] = get(r, c);
        }
        return out;
    }

    public boolean contiguous() {
        return ld == cols || rows <= 1;
    }
}
