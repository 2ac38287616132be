package io.headscan.compute;

import io.headscan.model.Matrix;
import java.lang.foreign.MemorySegment;

/**
 * A row-major float32 matrix that lives where a {@link Workspace} computes: in host memory (possibly the mapped
 * checkpoint itself) for the CPU backends, in device memory for cuBLAS. Element (r, c) is float
 * {@code offset + r·ld + c} of {@code memory}. For a device tensor {@code memory} is a device address that the host
 * cannot read (a zero-length segment); only its workspace uses it. Views ({@link #rows}) share the memory.
 */
public final class Tensor {

    private final Workspace owner;
    private final MemorySegment memory;
    private final long offset;
    private final int rows, cols, ld;

    Tensor(Workspace owner, MemorySegment memory, long offset, int rows, int cols, int ld) {
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("negative tensor size " + rows + "x" + cols);
        if (ld < Math.max(1, cols)) throw new IllegalArgumentException("ld " + ld + " < cols " + cols);
        this.owner = owner;
        this.memory = memory;
        this.offset = offset;
        this.rows = rows;
        this.cols = cols;
        this.ld = ld;
    }

    public Workspace owner() {
        return owner;
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    public int ld() {
        return ld;
    }

    /** Float index of element (0, 0) in {@link #memory()}. */
    public long offset() {
        return offset;
    }

    /** Host memory (CPU workspaces) or a device address (GPU workspaces). */
    public MemorySegment memory() {
        return memory;
    }

    /** Rows r0 .. r0+n-1: same memory, same owner. */
    public Tensor rows(int r0, int n) {
        if (r0 < 0 || n < 0 || r0 + n > rows) throw new IndexOutOfBoundsException("rows " + r0 + ".." + (r0 + n) + " outside " + rows);
        return new Tensor(owner, memory, offset + (long) r0 * ld, n, cols, ld);
    }

    /** The block of {@code n × m} at (r0, c0): same memory, same ld, same owner. */
    public Tensor block(int r0, int c0, int n, int m) {
        if (r0 < 0 || c0 < 0 || n < 0 || m < 0 || r0 + n > rows || c0 + m > cols) {
            throw new IndexOutOfBoundsException("block (" + r0 + "," + c0 + ") " + n + "x" + m + " outside " + rows + "x" + cols);
        }
        return new Tensor(owner, memory, offset + (long) r0 * ld + c0, n, m, ld);
    }

    /** The host matrix this tensor is (CPU workspaces only). */
    public Matrix host() {
        if (!owner.onHost()) throw new IllegalStateException("a " + owner.backendName() + " tensor lives on the device; use Workspace.store");
        return new Matrix(memory, offset, rows, cols, ld);
    }

    @Override
    public String toString() {
        return owner.backendName() + " tensor " + rows + "x" + cols + (ld == cols ? "" : " (ld " + ld + ")");
    }
}
