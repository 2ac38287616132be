package io.headscan.compute.cuda;

import static io.headscan.bindings.cublas.cublas_h.*;
import static io.headscan.bindings.cuda.cuda_runtime_h.*;

import io.headscan.compute.Tensor;
import io.headscan.compute.Transpose;
import io.headscan.compute.Workspace;
import io.headscan.compute.kernels.RowAffine;
import io.headscan.model.Matrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The cuBLAS backend's workspace: every tensor is device memory that this workspace allocated and frees on close. A
 * loaded host matrix crosses once (a mapped tensor straight from the mapping, pinned for the copy where the driver
 * allows) and the same host memory loaded again is the same device copy; GEMMs are cuBLAS calls on device pointers
 * and the row steps are the CUDA kernels {@code hs_rows_affine_dev} / {@code hs_bias_gelu_dev}, so nothing comes back
 * to the host but what {@link #store} is asked for. Small vectors (LayerNorm weights, biases) cross once per array.
 */
final class DeviceWorkspace extends Workspace {

    private final CublasBackend backend;
    private final List<MemorySegment> allocations = new ArrayList<>();
    private final Map<HostRange, MemorySegment> loaded = new HashMap<>();
    private final VectorCache vectors;
    private MemorySegment indexBuffer;
    private long indexCapacity;

    DeviceWorkspace(CublasBackend backend) {
        this.backend = backend;
        this.vectors = new VectorCache(new VectorCache.Memory() {
            @Override
            public MemorySegment upload(float[] v) {
                try (Arena s = Arena.ofConfined()) {
                    MemorySegment host = s.allocateFrom(ValueLayout.JAVA_FLOAT, v);
                    MemorySegment dev = backend.deviceMalloc(host.byteSize());
                    backend.upload(host, dev, false);
                    return dev;
                }
            }

            @Override
            public void free(MemorySegment p) {
                backend.deviceFree(p);
            }
        }, MAX_VECTORS);
    }

    boolean belongsTo(CublasBackend b) {
        return backend == b;
    }

    @Override
    public String backendName() {
        return backend.name();
    }

    @Override
    public boolean onHost() {
        return false;
    }

    /** A GPU wants big tiles: the [tile, d_mlp] hidden layer of GPT-2 is 100 MB at 8192 rows. */
    @Override
    public int preferredTileRows() {
        return 8192;
    }

    private MemorySegment malloc(long bytes) {
        MemorySegment p = backend.deviceMalloc(bytes);
        allocations.add(p);
        return p;
    }

    private static long extent(int rows, int cols, int ld) {
        return rows == 0 || cols == 0 ? 0 : (long) (rows - 1) * ld + cols;
    }

    @Override
    protected Tensor loadChecked(Matrix host) {
        backend.bind();
        long floats = extent(host.rows(), host.cols(), host.ld());
        MemorySegment src = host.segment().asSlice(host.offset() * Float.BYTES, floats * Float.BYTES);
        HostRange key = HostRange.of(src);
        MemorySegment dev = loaded.get(key);
        if (dev == null) dev = backend.residentCopy(src);   // already on the device for a GEMM: not copied again
        if (dev == null) {
            dev = malloc(src.byteSize());
            backend.upload(src, dev, host.segment().isReadOnly());
            loaded.put(key, dev);
        }
        return tensor(dev, 0, host.rows(), host.cols(), host.ld());
    }

    @Override
    protected Tensor allocateChecked(int rows, int cols) {
        long bytes = (long) rows * cols * Float.BYTES;
        MemorySegment dev = malloc(bytes);
        backend.deviceZero(dev, bytes);
        return tensor(dev, 0, rows, cols, Math.max(1, cols));
    }

    private static MemorySegment at(Tensor t, long row) {
        return MemorySegment.ofAddress(t.memory().address() + (t.offset() + row * t.ld()) * Float.BYTES);
    }

    @Override
    protected void storeChecked(Tensor t, Matrix host) {
        if (t.rows() == 0 || t.cols() == 0) return;
        backend.bind();
        if (t.ld() == t.cols() && host.ld() == host.cols()) {
            backend.download(host.segment().asSlice(host.offset() * Float.BYTES, (long) t.rows() * t.cols() * Float.BYTES), at(t, 0));
            return;
        }
        for (int r = 0; r < t.rows(); r++) {
            backend.download(host.segment().asSlice((host.offset() + (long) r * host.ld()) * Float.BYTES, (long) t.cols() * Float.BYTES), at(t, r));
        }
    }

    @Override
    protected void gemmChecked(float alpha, Tensor a, Transpose ta, Tensor b, Transpose tb, float beta, Tensor c, int m, int n, int k) {
        // row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands, keep the flags
        backend.bind();
        try (Arena s = Arena.ofConfined()) {
            CublasBackend.checkBlas(cublasSgemm_v2(backend.handle(), tb.on() ? CUBLAS_OP_T() : CUBLAS_OP_N(), ta.on() ? CUBLAS_OP_T() : CUBLAS_OP_N(),
                    n, m, k, s.allocateFrom(ValueLayout.JAVA_FLOAT, alpha), at(b, 0), b.ld(), at(a, 0), a.ld(),
                    s.allocateFrom(ValueLayout.JAVA_FLOAT, beta), at(c, 0), c.ld()), "cublasSgemm (workspace)");
        }
        backend.synchronize("cublasSgemm (workspace)");
    }

    /** Vectors kept on the device at most (a caller that makes a new array per call must not grow memory). */
    private static final int MAX_VECTORS = 256;

    private MemorySegment index(int[] index) {
        if (index == null) return MemorySegment.NULL;
        long bytes = (long) index.length * Long.BYTES;
        if (indexCapacity < bytes) {
            indexBuffer = malloc(bytes);
            indexCapacity = bytes;
        }
        try (Arena s = Arena.ofConfined()) {
            MemorySegment host = s.allocate(ValueLayout.JAVA_LONG, index.length);
            for (int i = 0; i < index.length; i++) host.setAtIndex(ValueLayout.JAVA_LONG, i, index[i]);
            backend.upload(host, indexBuffer, false);
        }
        return indexBuffer;
    }

    @Override
    protected void rowsChecked(RowAffine step, Tensor x, int[] index, Tensor add, Tensor y) {
        backend.bind();
        MemorySegment[] v = vectors.acquire(step.preScale(), step.preBias(), step.scale(), step.bias());
        backend.kernels().launchRows(at(x, 0), x.ld(), index(index), y.rows(), y.cols(), v[0], v[1],
                step.norm().ordinal(), v[2], v[3], add == null ? MemorySegment.NULL : at(add, 0),
                add == null ? y.cols() : add.ld(), at(y, 0), y.ld());
        backend.synchronize("hs_rows_affine_dev");
    }

    @Override
    protected void biasGeluChecked(Tensor h, float[] bias) {
        backend.bind();
        backend.kernels().launchBiasGelu(at(h, 0), h.rows(), h.cols(), h.ld(), vectors.acquire(bias)[0]);
        backend.synchronize("hs_bias_gelu_dev");
    }

    /** No device kernel for this activation yet: the tile crosses to the host, is activated there, and goes back. */
    @Override
    protected void biasActivationChecked(Tensor h, float[] bias, io.headscan.model.Activation act) {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            Matrix host = Matrix.allocate(arena, h.rows(), h.cols());
            storeChecked(h, host);
            activateOnHost(host, bias, act);
            uploadInto(host, h);
        }
        backend.ranOnHost("activation " + act.configName());
    }

    /** No device kernel for the gated product yet: both tiles cross to the host, g comes back. */
    @Override
    protected void gatedChecked(Tensor g, Tensor u, io.headscan.model.Activation act) {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            Matrix hg = Matrix.allocate(arena, g.rows(), g.cols()), hu = Matrix.allocate(arena, u.rows(), u.cols());
            storeChecked(g, hg);
            storeChecked(u, hu);
            io.headscan.compute.kernels.Elementwise.gated(hg, hu, act);
            uploadInto(hg, g);
        }
        backend.ranOnHost("gated MLP product (" + act.configName() + ")");
    }

    /** A dense host matrix of t's shape back into t. */
    private void uploadInto(Matrix host, Tensor t) {
        backend.bind();
        long rowBytes = (long) t.cols() * Float.BYTES;
        if (t.ld() == t.cols()) {
            backend.upload(host.segment().asSlice(0, t.rows() * rowBytes), at(t, 0), false);
        } else {
            for (int r = 0; r < t.rows(); r++) backend.upload(host.segment().asSlice(r * rowBytes, rowBytes), at(t, r), false);
        }
    }

    @Override
    protected void free() {
        for (MemorySegment p : allocations) backend.deviceFree(p);
        allocations.clear();
        loaded.clear();
        vectors.clear();
    }
}
