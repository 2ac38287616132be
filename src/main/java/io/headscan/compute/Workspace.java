package io.headscan.compute;

import io.headscan.compute.kernels.RowAffine;
import io.headscan.model.Matrix;

/**
 * Tensors that live where a backend computes, and the operations on them (docs/gpu.md, "Device residency"). A
 * workspace owns every tensor it makes and frees them all when it closes: host memory for the CPU backends (where a
 * loaded tensor is the host matrix itself, the mapped file included: zero copies), device memory for cuBLAS (where a
 * loaded tensor crosses once and every later step stays on the device; only {@link #store} brings results back).
 *
 * <p>Every operation checks, before any work, that each tensor belongs to this workspace and that the shapes agree,
 * naming the argument that is wrong: mixing one backend's tensor into another's call is an error, never a silent
 * copy. Calls on one workspace are serialised.
 */
public abstract class Workspace implements AutoCloseable {

    private boolean closed;

    /** A workspace of host memory for any backend (the one every CPU backend gives). */
    public static Workspace onHost(Backend backend) {
        return new HostWorkspace(backend);
    }

    /** The backend's short name ("openblas", "java", "cublas"). */
    public abstract String backendName();

    /** Whether tensors are host memory ({@link Tensor#host()} works). */
    public abstract boolean onHost();

    /** Rows per tile of row-by-row work in host memory. */
    public static final int HOST_TILE_ROWS = 1024;

    /** Rows per tile that suit this workspace for row-by-row work ({@link #HOST_TILE_ROWS}; more on a GPU). */
    public int preferredTileRows() {
        return HOST_TILE_ROWS;
    }

    /**
     * A tensor with the contents of a host matrix, which must not change while the tensor is used: on the host the
     * matrix itself, on a device one copy (made once per workspace for the same memory).
     */
    public final synchronized Tensor load(Matrix host) {
        ensureOpen();
        return loadChecked(host);
    }

    /** A new tensor of zeros. */
    public final synchronized Tensor allocate(int rows, int cols) {
        ensureOpen();
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("allocate: negative size " + rows + "x" + cols);
        return allocateChecked(rows, cols);
    }

    /**
     * A tensor to compute a result in that will end up in {@code host} through {@link #store}: on the host, {@code host}
     * itself (store then copies nothing), on a device a new tensor of its shape.
     */
    public final synchronized Tensor target(Matrix host) {
        ensureOpen();
        return onHost() ? loadChecked(host) : allocateChecked(host.rows(), host.cols());
    }

    /** Copies a tensor into a host matrix of its shape (nothing when it is that matrix). */
    public final synchronized void store(Tensor t, Matrix host) {
        ensureOpen();
        own(t, "t");
        if (host.rows() != t.rows() || host.cols() != t.cols()) {
            throw new IllegalArgumentException("store: host matrix is " + host.rows() + "x" + host.cols() + ", tensor is " + t.rows() + "x" + t.cols());
        }
        if (host.segment().isReadOnly() && host.rows() > 0) throw new IllegalArgumentException("store: host matrix is read-only");
        storeChecked(t, host);
    }

    /** {@code c = alpha·op(a)·op(b) + beta·c}. */
    public final synchronized void gemm(float alpha, Tensor a, Transpose ta, Tensor b, Transpose tb, float beta, Tensor c) {
        ensureOpen();
        own(a, "a");
        own(b, "b");
        own(c, "c");
        int m = ta.on() ? a.cols() : a.rows(), k = ta.on() ? a.rows() : a.cols();
        int kb = tb.on() ? b.cols() : b.rows(), n = tb.on() ? b.rows() : b.cols();
        if (k != kb) throw new IllegalArgumentException("gemm: inner dimensions differ: op(a) is " + m + "x" + k + ", op(b) is " + kb + "x" + n);
        if (c.rows() != m || c.cols() != n) throw new IllegalArgumentException("gemm: c is " + c.rows() + "x" + c.cols() + ", expected " + m + "x" + n);
        if (m == 0 || n == 0) return;
        gemmChecked(alpha, a, ta, b, tb, beta, c, m, n, k);
    }

    /**
     * {@code y[r] = step(x[index[r]]) + add[r]} for r in [0, y.rows()) ({@link RowAffine}); index null: x[r]; add may be
     * null. x, add and y may be the same tensor (in place).
     */
    public final synchronized void rows(RowAffine step, Tensor x, int[] index, Tensor add, Tensor y) {
        ensureOpen();
        own(x, "x");
        own(y, "y");
        if (add != null) own(add, "add");
        int rows = y.rows(), cols = y.cols();
        if (x.cols() != cols) throw new IllegalArgumentException("rows: x has " + x.cols() + " columns, y " + cols);
        if (add != null && (add.cols() != cols || add.rows() < rows)) {
            throw new IllegalArgumentException("rows: add is " + add.rows() + "x" + add.cols() + ", y " + rows + "x" + cols);
        }
        if (index == null ? x.rows() < rows : index.length != rows) throw new IllegalArgumentException("rows: x has too few rows for y");
        if (index != null) {
            for (int i : index) {
                if (i < 0 || i >= x.rows()) throw new IndexOutOfBoundsException("rows: index " + i + " outside [0, " + x.rows() + ")");
            }
        }
        for (float[] v : new float[][] {step.preScale(), step.preBias(), step.scale(), step.bias()}) {
            if (v != null && v.length < cols) throw new IllegalArgumentException("rows: a vector of " + v.length + " for " + cols + " columns");
        }
        if (rows == 0) return;
        rowsChecked(step, x, index, add, y);
    }

    /** {@code h = gelu_new(h + bias)} row by row, in place (docs/science.md §0). */
    public final synchronized void biasGelu(Tensor h, float[] bias) {
        ensureOpen();
        own(h, "h");
        if (bias.length < h.cols()) throw new IllegalArgumentException("biasGelu: bias has " + bias.length + " entries for " + h.cols() + " columns");
        if (h.rows() == 0) return;
        biasGeluChecked(h, bias);
    }

    /**
     * {@code h = act(h + bias)} row by row, in place: the MLP's non-linearity. GPT-2's tanh GELU runs in the row kernels
     * ({@link #biasGelu}); the others run on the host (a device workspace moves the tile there and back). A null bias
     * is none.
     */
    public final synchronized void biasActivation(Tensor h, float[] bias, io.headscan.model.Activation act) {
        if (bias == null) bias = new float[h.cols()];
        if (act == io.headscan.model.Activation.GELU_TANH) {
            biasGelu(h, bias);
            return;
        }
        ensureOpen();
        own(h, "h");
        if (bias.length < h.cols()) throw new IllegalArgumentException("biasActivation: bias has " + bias.length + " entries for " + h.cols() + " columns");
        if (h.rows() == 0) return;
        biasActivationChecked(h, bias, act);
    }

    /**
     * {@code g = act(g) ⊙ u} row by row, in place over g: a gated MLP's product (SwiGLU, GeGLU; docs/science.md §9). On
     * the host it runs in the row kernels; a device workspace without its kernel moves the tiles to the host and back.
     */
    public final synchronized void gated(Tensor g, Tensor u, io.headscan.model.Activation act) {
        ensureOpen();
        own(g, "g");
        own(u, "u");
        if (g.rows() != u.rows() || g.cols() != u.cols()) {
            throw new IllegalArgumentException("gated: g is " + g.rows() + "x" + g.cols() + ", u " + u.rows() + "x" + u.cols());
        }
        if (g.rows() == 0) return;
        gatedChecked(g, u, act);
    }

    /** {@code h = act(h + bias)} in place over a host matrix, in double, rows split across the cores where the memory allows. */
    protected static void activateOnHost(Matrix h, float[] bias, io.headscan.model.Activation act) {
        int n = h.rows(), cols = h.cols();
        java.util.stream.IntStream rows = java.util.stream.IntStream.range(0, n);
        boolean shared = h.segment().isAccessibleBy(Thread.ofPlatform().unstarted(() -> {}));
        (shared ? rows.parallel() : rows).forEach(a -> {
            // a row at a time through an array: bulk copies, and a loop the JIT compiles early
            long base = (h.offset() + (long) a * h.ld()) * Float.BYTES;
            float[] row = new float[cols];
            java.lang.foreign.MemorySegment.copy(h.segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, base, row, 0, cols);
            for (int j = 0; j < cols; j++) row[j] = (float) act.apply((double) row[j] + bias[j]);
            java.lang.foreign.MemorySegment.copy(row, 0, h.segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, base, cols);
        });
    }

    /** Whether this workspace has been closed. */
    public final synchronized boolean closed() {
        return closed;
    }

    /** Frees every tensor this workspace made or loaded (host matrices given to {@link #load} stay, of course). */
    @Override
    public final synchronized void close() {
        if (closed) return;
        closed = true;
        free();
    }

    /** Refuses a tensor of another workspace (or of none), naming the argument. */
    protected final void own(Tensor t, String argument) {
        if (t == null) throw new IllegalArgumentException(argument + " is null");
        if (t.owner() != this) {
            throw new IllegalArgumentException(argument + " is a tensor of " + (t.owner().closed() ? "a closed " : "another ") + t.owner().backendName()
                    + " workspace, not of this " + backendName() + " one: load it here first");
        }
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("this " + backendName() + " workspace is closed");
    }

    /** For implementations: a tensor of this workspace over the given memory. */
    protected final Tensor tensor(java.lang.foreign.MemorySegment memory, long offset, int rows, int cols, int ld) {
        return new Tensor(this, memory, offset, rows, cols, ld);
    }

    protected abstract Tensor loadChecked(Matrix host);

    protected abstract Tensor allocateChecked(int rows, int cols);

    protected abstract void storeChecked(Tensor t, Matrix host);

    protected abstract void gemmChecked(float alpha, Tensor a, Transpose ta, Tensor b, Transpose tb, float beta, Tensor c, int m, int n, int k);

    protected abstract void rowsChecked(RowAffine step, Tensor x, int[] index, Tensor add, Tensor y);

    protected abstract void biasGeluChecked(Tensor h, float[] bias);

    protected abstract void biasActivationChecked(Tensor h, float[] bias, io.headscan.model.Activation act);

    protected abstract void gatedChecked(Tensor g, Tensor u, io.headscan.model.Activation act);

    protected abstract void free();
}
