package io.headscan.compute;

import io.headscan.compute.kernels.NativeKernels;
import io.headscan.compute.kernels.RowAffine;
import io.headscan.model.Matrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.IntStream;

/**
 * The workspace of a CPU backend: tensors are host memory. A loaded matrix is used in place (a mapped checkpoint
 * tensor goes to BLAS straight from the mapping), GEMMs go to the backend, row steps to the C kernels
 * ({@link RowAffine}, {@link NativeKernels#biasGeluNew}; Java where C is unavailable), split across the cores.
 * Allocations are off-heap and freed on close.
 */
final class HostWorkspace extends Workspace {

    private final Backend backend;
    private final Arena arena = Arena.ofShared();
    private final NativeKernels kernels = NativeKernels.preferred().orElse(null);

    HostWorkspace(Backend backend) {
        this.backend = backend;
    }

    @Override
    public String backendName() {
        return backend.name();
    }

    @Override
    public boolean onHost() {
        return true;
    }

    @Override
    protected Tensor loadChecked(Matrix host) {
        return tensor(host.segment(), host.offset(), host.rows(), host.cols(), host.ld());
    }

    @Override
    protected Tensor allocateChecked(int rows, int cols) {
        Matrix m = Matrix.allocate(arena, rows, cols);
        return tensor(m.segment(), 0, rows, cols, Math.max(1, cols));
    }

    @Override
    protected void storeChecked(Tensor t, Matrix host) {
        if (t.memory().address() == host.segment().address() && t.offset() == host.offset() && t.ld() == host.ld()) return;
        for (int r = 0; r < t.rows(); r++) {
            MemorySegment.copy(t.memory(), (t.offset() + (long) r * t.ld()) * Float.BYTES, host.segment(),
                    (host.offset() + (long) r * host.ld()) * Float.BYTES, (long) t.cols() * Float.BYTES);
        }
    }

    @Override
    protected void gemmChecked(float alpha, Tensor a, Transpose ta, Tensor b, Transpose tb, float beta, Tensor c, int m, int n, int k) {
        backend.gemm(alpha, a.host(), ta, b.host(), tb, beta, c.host());
    }

    @Override
    protected void rowsChecked(RowAffine step, Tensor x, int[] index, Tensor add, Tensor y) {
        step.apply(x.host(), index, add == null ? null : add.host(), y.host());
    }

    @Override
    protected void biasGeluChecked(Tensor t, float[] bias) {
        Matrix h = t.host();
        int n = h.rows(), cols = h.cols();
        int workers = Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), n / 8));
        if (kernels != null) {
            IntStream.range(0, workers).parallel().forEach(w -> {
                int from = n * w / workers, to = n * (w + 1) / workers;
                kernels.biasGeluNew(h.segment(), h.offset() + (long) from * h.ld(), to - from, cols, h.ld(), bias);
            });
        } else {
            IntStream.range(0, n).parallel().forEach(a -> {
                long base = h.offset() + (long) a * h.ld();
                for (int j = 0; j < cols; j++) {
                    double v = h.segment().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, base + j) + bias[j];
                    h.segment().setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, base + j,
                            (float) (0.5 * v * (1 + Math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))));
                }
            });
        }
    }

    @Override
    protected void biasActivationChecked(Tensor t, float[] bias, io.headscan.model.Activation act) {
        activateOnHost(t.host(), bias, act);
    }

    @Override
    protected void gatedChecked(Tensor g, Tensor u, io.headscan.model.Activation act) {
        io.headscan.compute.kernels.Elementwise.gated(g.host(), u.host(), act);
    }

    @Override
    protected void free() {
        arena.close();
    }
}
