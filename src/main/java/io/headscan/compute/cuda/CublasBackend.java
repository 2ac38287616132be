package io.headscan.compute.cuda;

import static io.headscan.bindings.cublas.cublas_h.*;
import static io.headscan.bindings.cuda.cuda_runtime_h.*;

import io.headscan.compute.AbstractBackend;
import io.headscan.compute.BackendException;
import io.headscan.compute.FusedReduction;
import io.headscan.compute.Transpose;
import io.headscan.model.Matrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.LongConsumer;

/**
 * GEMMs on an NVIDIA GPU through cuBLAS (jextract bindings, libraries found by {@link CudaLibraries}).
 *
 * <p>Operands are host segments, as for every backend; what crosses the bus is kept small: a read-only operand
 * (a tensor of the mapped checkpoint) is copied to the device once, from the mapping itself (registered as
 * pinned memory where the driver allows, no heap copy), and stays resident for the backend's life; writable
 * operands are copied per call; C comes back per call. Row-major products are computed as their column-major
 * transposes ({@code Cᵀ = op(B)ᵀ·op(A)ᵀ}), so nothing is transposed in memory. All heads' products are one
 * {@code cublasSgemmStridedBatched}. The full-vocabulary reduction runs on the device
 * ({@link FusedReduction}: cuBLAS tiles of S reduced by the CUDA kernel in {@code native/cuda}).
 *
 * <p>FP32 by default ({@code CUBLAS_PEDANTIC_MATH}); {@code tf32} allows TF32 tensor cores (10-bit mantissas in
 * the products: scores move by about 1e-3 relative, so near-tied ranks can change; see docs/gpu.md). Calls are
 * serialised: one handle, the default stream.
 *
 * <p>Everything runs on the device the backend was opened on, whichever thread calls: every entry point makes that
 * device current for the calling thread first (CUDA's current device belongs to a thread, and a new thread starts on
 * device 0). The kernels are checked when the backend opens: a kernel module that does not load disables the kernel
 * paths (cuBLAS still works; {@link #describe()} says why), a kernel that gives wrong results is not used, and a fault
 * during the check ({@link GpuFaultException}) makes the whole backend refuse to open, since CUDA keeps such an error
 * for the rest of the process.
 */
public final class CublasBackend extends AbstractBackend implements FusedReduction {

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private final boolean tf32;
    private final String description;
    private final Map<HostRange, MemorySegment> resident = new HashMap<>();
    /** Writable host ranges the caller promised not to change ({@link #retain}): kept on the device like weights. */
    private final java.util.Set<HostRange> retained = new java.util.HashSet<>();
    private long toDevice, toHost;

    /** Device scratch buffers by slot: 0-2 GEMM operands, 3-4 folded weights, 5-6 factors, 7-10 writable weights/LN weights. */
    private final MemorySegment[] scratch = new MemorySegment[11];
    private final long[] scratchBytes = new long[11];
    private final ReduceKernel kernel;
    private final int device;
    private boolean closed;

    private CublasBackend(MemorySegment handle, boolean tf32, String description, ReduceKernel kernel, int computeMajor, int device) {
        this.computeMajor = computeMajor;
        this.device = device;
        this.handle = handle;
        this.tf32 = tf32;
        this.description = description;
        this.kernel = kernel;
    }

    /** Loads the CUDA runtime and cuBLAS, checks that a GPU is there, and opens a handle on device 0. */
    public static CublasBackend open(Optional<Path> libraryFolder, boolean tf32) {
        return open(libraryFolder, tf32, 0);
    }

    /**
     * As {@link #open(Optional, boolean)} on device {@code device} (as a scheduler assigned it: never assumed to be 0).
     * CUDA's current device belongs to the calling thread: call this on the thread that will compute.
     */
    public static CublasBackend open(Optional<Path> libraryFolder, boolean tf32, int device) {
        return open(libraryFolder, tf32, device, null);
    }

    /**
     * As {@link #open(Optional, boolean, int)} with the kernels from {@code image} instead of the build's (null: the
     * build's). Whatever fails after the cuBLAS handle exists releases it, and the kernel module, before it is thrown.
     */
    static CublasBackend open(Optional<Path> libraryFolder, boolean tf32, int device, ReduceKernel.Image image) {
        String fused = System.getenv("HEADSCAN_FUSED");
        if (fused != null && !fused.equals("0") && !fused.equals("tf32")) {
            throw new io.headscan.compute.BackendException("HEADSCAN_FUSED=" + fused + " is not understood (0: the tile path; tf32: the TF32 fused kernel with --tf32)");
        }
        CudaLibraries libs = CudaLibraries.fromEnvironment(libraryFolder);
        Path runtime = Cuda.loadRuntime(libs);
        int count = Cuda.deviceCount();
        if (device < 0 || device >= count) throw new io.headscan.compute.BackendException("GPU " + device + " does not exist: this machine has " + count);
        String fault = FAULTS.get(device);
        if (fault != null) throw new GpuFaultException(fault);
        Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        int sticky = cudaDeviceSynchronize();   // an error left by earlier work in this process (kernels fault asynchronously)
        if (sticky != cudaSuccess()) throw fault(device, "GPU " + device + " is in an error state left by earlier work in this process: " + Cuda.describe(sticky));
        Path lt = libs.find(CudaLibraries.CUBLAS_LT).orElse(null);
        if (lt != null) Cuda.load(lt);
        Path cublas = libs.require("cuBLAS", CudaLibraries.CUBLAS);
        Cuda.load(cublas);
        MemorySegment h = null;
        ReduceKernel k = null;
        CublasBackend b = null;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment hp = a.allocate(ValueLayout.ADDRESS);
            checkBlas(cublasCreate_v2(hp), "cublasCreate");
            h = hp.get(ValueLayout.ADDRESS, 0);
            checkBlas(cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH() : CUBLAS_PEDANTIC_MATH()), "cublasSetMathMode");
            MemorySegment v = a.allocate(ValueLayout.JAVA_INT);
            checkBlas(cublasGetVersion_v2(h, v), "cublasGetVersion");
            int version = v.get(ValueLayout.JAVA_INT, 0);
            String deviceName = deviceLine(a, device);
            k = ReduceKernel.load(libs, image);
            String desc = "cuBLAS " + version + " on " + deviceName + ", " + (tf32 ? "TF32 tensor cores allowed" : "FP32")
                    + "; CUDA runtime " + Cuda.runtimeVersion() + " from " + runtime + "; cuBLAS from " + cublas
                    + "; full-vocabulary kernels: " + k.describe();
            b = new CublasBackend(h, tf32, desc, k, attribute(a, cudaDevAttrComputeCapabilityMajor(), device), device);
            b.checkKernels();
            return b;
        } catch (RuntimeException | Error e) {
            if (b != null) {
                b.close();
            } else {
                if (k != null) k.close();
                if (h != null) cublasDestroy_v2(h);
            }
            throw e;
        }
    }

    /** Devices that faulted in this process, with what happened: CUDA keeps the error, so they are not opened again. */
    private static final java.util.concurrent.ConcurrentHashMap<Integer, String> FAULTS = new java.util.concurrent.ConcurrentHashMap<>();

    /** Records that {@code device} faulted (for the rest of the process) and returns the exception to throw. */
    static GpuFaultException fault(int device, String message) {
        FAULTS.putIfAbsent(device, message);
        return new GpuFaultException(message);
    }

    /**
     * Synchronises the device: an error it reports now stays in CUDA's context for the rest of the process (a fault in a
     * kernel or a copy), so the GPU is unusable here; it is recorded like a fault during the kernels' check.
     */
    @Override
    public synchronized java.util.Optional<String> fault() {
        String known = FAULTS.get(device);
        if (known != null) return java.util.Optional.of(known);
        if (closed) return java.util.Optional.empty();
        int rc = cudaSetDevice(device);
        if (rc == cudaSuccess()) rc = cudaDeviceSynchronize();
        if (rc == cudaSuccess()) return java.util.Optional.empty();
        return java.util.Optional.of(fault(device, "GPU " + device + " faulted: " + Cuda.describe(rc)
                + "; CUDA keeps this error for the rest of the process, so this GPU is not used again here").getMessage());
    }

    /** The device this backend computes on (as it was opened: never assumed to be 0). */
    public int device() {
        return device;
    }

    /** Makes this backend's device current for the calling thread. Every entry point calls it first. */
    synchronized void bind() {
        Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ")");
    }

    /** The calling thread's current CUDA device, as CUDA reports it (tests read back where a call ran). */
    static int currentDevice() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment d = a.allocate(ValueLayout.JAVA_INT);
            Cuda.check(cudaGetDevice(d), "cudaGetDevice");
            return d.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** The device that holds device memory {@code p}, as CUDA reports it. */
    static int deviceOf(MemorySegment p) {
        return Cuda.deviceOfPointer(p);
    }

    private static String deviceLine(Arena a, int device) {
        int major = attribute(a, cudaDevAttrComputeCapabilityMajor(), device), minor = attribute(a, cudaDevAttrComputeCapabilityMinor(), device);
        int sms = attribute(a, cudaDevAttrMultiProcessorCount(), device);
        MemorySegment free = a.allocate(ValueLayout.JAVA_LONG), total = a.allocate(ValueLayout.JAVA_LONG);
        long gib = cudaMemGetInfo(free, total) == cudaSuccess() ? total.get(ValueLayout.JAVA_LONG, 0) >> 30 : -1;
        return "GPU " + device + " (compute capability " + major + "." + minor + ", " + sms + " SMs, " + gib + " GiB)";
    }

    /** An attribute of device {@code device}, or -1 when the runtime cannot say. */
    private static int attribute(Arena a, int attr, int device) {
        MemorySegment v = a.allocate(ValueLayout.JAVA_INT);
        return cudaDeviceGetAttribute(v, attr, device) == cudaSuccess() ? v.get(ValueLayout.JAVA_INT, 0) : -1;
    }

    static void checkBlas(int status, String call) {
        if (status != CUBLAS_STATUS_SUCCESS()) {
            throw new BackendException(call + " failed: " + Cuda.cString(cublasGetStatusName(status), "cuBLAS status " + status)
                    + ": " + Cuda.cString(cublasGetStatusString(status), ""));
        }
    }

    @Override
    public String name() {
        return "cublas";
    }

    private final java.util.Set<String> hostSteps = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final java.util.List<String> hostStepOrder = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** Notes a row step that ran on the host for want of a device kernel (see {@link #hostSteps}). */
    void ranOnHost(String step) {
        if (hostSteps.add(step)) hostStepOrder.add(step);
    }

    @Override
    public java.util.List<String> hostSteps() {
        return java.util.List.copyOf(hostStepOrder);
    }

    @Override
    public String describe() {
        return description;
    }

    public boolean tf32() {
        return tf32;
    }

    /** One GPU: the thread count is not a knob here. */
    @Override
    public int threads() {
        return 1;
    }

    @Override
    public void setThreads(int threads) {
        // nothing to set
    }

    // ---- device memory ----

    /**
     * A workspace on the device when this build's CUDA row kernels loaded; otherwise (a jar built without nvcc) a host
     * workspace whose GEMMs still run here, one copy per call.
     */
    @Override
    public io.headscan.compute.Workspace workspace() {
        ensureOpen();
        return kernel.rowStepsAvailable() ? new DeviceWorkspace(this) : io.headscan.compute.Workspace.onHost(this);
    }

    MemorySegment handle() {
        return handle;
    }

    ReduceKernel kernels() {
        return kernel;
    }

    synchronized MemorySegment deviceMalloc(long bytes) {
        ensureOpen();
        bind();
        return malloc(bytes);
    }

    synchronized void deviceFree(MemorySegment dev) {
        if (closed) return;   // close() freed the context's memory with everything else
        bind();
        cudaFree(dev);
    }

    synchronized void deviceZero(MemorySegment dev, long bytes) {
        bind();
        if (bytes > 0) Cuda.check(cudaMemset(dev, 0, bytes), "cudaMemset");
    }

    /** Host → device, counted; a read-only host range (a mapping) is pinned for the copy where the driver allows. */
    synchronized void upload(MemorySegment host, MemorySegment dev, boolean readOnly) {
        ensureOpen();
        bind();
        if (readOnly) uploadPinned(host, dev);
        else copy(dev, host, host.byteSize(), cudaMemcpyHostToDevice(), "tensor to device");
    }

    /** Device → host, counted: {@code host.byteSize()} bytes from {@code dev}. */
    synchronized void download(MemorySegment host, MemorySegment dev) {
        ensureOpen();
        bind();
        copy(host, dev, host.byteSize(), cudaMemcpyDeviceToHost(), "tensor to host");
    }

    /** Waits for the device, so that a kernel's failure is reported by the call that launched it. */
    synchronized void synchronize(String after) {
        bind();
        Cuda.check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (after " + after + ")");
    }

    private static MemorySegment malloc(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            Cuda.check(cudaMalloc(p, Math.max(bytes, 4)), "cudaMalloc(" + bytes + " bytes)");
            return p.get(ValueLayout.ADDRESS, 0);
        }
    }

    private MemorySegment scratch(int slot, long bytes) {
        if (scratchBytes[slot] < bytes) {
            if (scratch[slot] != null) cudaFree(scratch[slot]);
            scratch[slot] = malloc(bytes);
            scratchBytes[slot] = bytes;
        }
        return scratch[slot];
    }

    private static MemorySegment plus(MemorySegment devicePointer, long bytes) {
        return MemorySegment.ofAddress(devicePointer.address() + bytes);
    }

    private void copy(MemorySegment dst, MemorySegment src, long bytes, int kind, String what) {
        if (bytes <= 0) return;
        Cuda.check(cudaMemcpy(dst, src, bytes, kind), "cudaMemcpy (" + what + ")");
        if (kind == cudaMemcpyHostToDevice()) toDevice += bytes;
        else if (kind == cudaMemcpyDeviceToHost()) toHost += bytes;
    }

    /** The warm-up product (cuBLAS's own start, its first kernels) is not the work's: its copies are not counted. */
    @Override
    public synchronized void warmUp() {
        long toDeviceBefore = toDevice, toHostBefore = toHost;
        try {
            super.warmUp();
        } finally {
            toDevice = toDeviceBefore;
            toHost = toHostBefore;
        }
    }

    @Override
    public synchronized Transfers transfers() {
        return new Transfers(toDevice, toHost);
    }

    @Override
    public synchronized void retain(MemorySegment s) {
        ensureOpen();
        retained.add(HostRange.of(s));
    }

    @Override
    public synchronized void release(MemorySegment s) {
        HostRange key = HostRange.of(s);
        retained.remove(key);
        MemorySegment dev = resident.remove(key);
        if (dev != null) deviceFree(dev);
    }

    /**
     * The device address of float {@code offset} of host segment {@code s}, whose first {@code extent} floats from
     * there are needed: a read-only segment is uploaded whole once and kept; a writable one is copied into scratch.
     */
    private MemorySegment onDevice(MemorySegment s, long offset, long extent, int slot) {
        forgetTheDead();
        HostRange key = HostRange.of(s);
        if (s.isReadOnly() || retained.contains(key)) {
            MemorySegment dev = resident.get(key);
            if (dev == null) {
                dev = malloc(s.byteSize());
                uploadPinned(s, dev);
                resident.put(key, dev);
            }
            return plus(dev, offset * Float.BYTES);
        }
        MemorySegment dev = scratch(slot, extent * Float.BYTES);
        copy(dev, s.asSlice(offset * Float.BYTES, extent * Float.BYTES), extent * Float.BYTES, cudaMemcpyHostToDevice(), "operand to device");
        return dev;
    }

    /**
     * The device address of read-only host memory {@code s} inside a copy this backend already keeps (a mapped tensor a
     * GEMM read, such as E for the vocabulary mean), or null: a device workspace then uses that copy instead of making a
     * second one. The copy lives as long as the host memory (or until {@link #release}), like the workspace's tensor.
     */
    synchronized MemorySegment residentCopy(MemorySegment s) {
        ensureOpen();
        forgetTheDead();
        if (!s.isReadOnly()) return null;
        for (Map.Entry<HostRange, MemorySegment> e : resident.entrySet()) {
            if (e.getKey().contains(s)) return plus(e.getValue(), s.address() - e.getKey().address());
        }
        return null;
    }

    /** Frees the device copies of host memory that is gone (a closed checkpoint's mapping, a freed buffer). */
    private void forgetTheDead() {
        retained.removeIf(r -> !r.alive());
        resident.entrySet().removeIf(e -> {
            if (e.getKey().alive()) return false;
            cudaFree(e.getValue());
            return true;
        });
    }

    /** Copies a mapped tensor to the device, registering its pages as pinned memory for the transfer when allowed. */
    private void uploadPinned(MemorySegment host, MemorySegment dev) {
        long page = 4096, start = host.address() / page * page, end = (host.address() + host.byteSize() + page - 1) / page * page;
        MemorySegment region = MemorySegment.ofAddress(start).reinterpret(end - start);
        boolean pinned = cudaHostRegister(region, end - start, cudaHostRegisterReadOnly()) == cudaSuccess();   // a refusal is not sticky
        try {
            copy(dev, host, host.byteSize(), cudaMemcpyHostToDevice(), "weights to device");
        } finally {
            if (pinned) cudaHostUnregister(region);
        }
    }

    private static long extent(int rows, int cols, int ld) {
        return rows == 0 || cols == 0 ? 0 : (long) (rows - 1) * ld + cols;
    }

    private static int op(Transpose t) {
        return t.on() ? CUBLAS_OP_T() : CUBLAS_OP_N();
    }

    @Override
    protected synchronized void sgemmChecked(Transpose transA, Transpose transB, int m, int n, int k, float alpha,
                                             MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                                             float beta, MemorySegment c, long cOffset, int ldc) {
        ensureOpen();
        bind();
        long aExt = extent(transA.on() ? k : m, transA.on() ? m : k, lda);
        long bExt = extent(transB.on() ? n : k, transB.on() ? k : n, ldb);
        long cExt = extent(m, n, ldc);
        MemorySegment dA = onDevice(a, aOffset, aExt, 0);
        MemorySegment dB = onDevice(b, bOffset, bExt, 1);
        MemorySegment dC = scratch(2, cExt * Float.BYTES);
        MemorySegment hostC = c.asSlice(cOffset * Float.BYTES, cExt * Float.BYTES);
        // the gaps between C's rows (ld > n) must come back as they were: upload C unless it is dense and overwritten
        if (beta != 0f || ldc != n) copy(dC, hostC, cExt * Float.BYTES, cudaMemcpyHostToDevice(), "C to device");
        try (Arena s = Arena.ofConfined()) {
            checkBlas(cublasSgemm_v2(handle, op(transB), op(transA), n, m, k, s.allocateFrom(ValueLayout.JAVA_FLOAT, alpha), dB, ldb, dA, lda,
                    s.allocateFrom(ValueLayout.JAVA_FLOAT, beta), dC, ldc), "cublasSgemm");
        }
        copy(hostC, dC, cExt * Float.BYTES, cudaMemcpyDeviceToHost(), "C to host");
    }

    @Override
    public synchronized void sgemmStridedBatched(Transpose transA, Transpose transB, int m, int n, int k, float alpha,
                                                 MemorySegment a, long aOffset, int lda, long strideA,
                                                 MemorySegment b, long bOffset, int ldb, long strideB,
                                                 float beta, MemorySegment c, long cOffset, int ldc, long strideC, int batch) {
        if (batch < 0 || strideA < 0 || strideB < 0 || strideC < 0) throw new IllegalArgumentException("sgemmStridedBatched: negative batch or stride");
        if (batch == 0 || m == 0 || n == 0) return;
        // the first and the last problem carry every check of a single GEMM (sizes, lds, extents inside the segments)
        if (batch > 1 && strideC < extent(m, n, ldc)) throw new IllegalArgumentException("sgemmStridedBatched: C blocks overlap");
        long last = batch - 1;
        checkArguments(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
        checkArguments(transA, transB, m, n, k, a, aOffset + last * strideA, lda, b, bOffset + last * strideB, ldb, c, cOffset + last * strideC, ldc);
        ensureOpen();
        bind();
        long aExt = last * strideA + extent(transA.on() ? k : m, transA.on() ? m : k, lda);
        long bExt = last * strideB + extent(transB.on() ? n : k, transB.on() ? k : n, ldb);
        long cExt = last * strideC + extent(m, n, ldc);
        MemorySegment dA = onDevice(a, aOffset, aExt, 0);
        MemorySegment dB = onDevice(b, bOffset, bExt, 1);
        MemorySegment dC = scratch(2, cExt * Float.BYTES);
        MemorySegment hostC = c.asSlice(cOffset * Float.BYTES, cExt * Float.BYTES);
        if (beta != 0f || ldc != n || strideC != (long) m * n) copy(dC, hostC, cExt * Float.BYTES, cudaMemcpyHostToDevice(), "C to device");
        try (Arena s = Arena.ofConfined()) {
            checkBlas(cublasSgemmStridedBatched(handle, op(transB), op(transA), n, m, k, s.allocateFrom(ValueLayout.JAVA_FLOAT, alpha),
                    dB, ldb, strideB, dA, lda, strideA, s.allocateFrom(ValueLayout.JAVA_FLOAT, beta), dC, ldc, strideC, batch),
                    "cublasSgemmStridedBatched");
        }
        copy(hostC, dC, cExt * Float.BYTES, cudaMemcpyDeviceToHost(), "C to host");
    }

    // ---- the full-vocabulary reduction on the device ----

    @Override
    public boolean fusedReductionAvailable() {
        return kernel.available();
    }

    /** The device reductions: cuBLAS tiles + hs_reduce_tile, the fused FP32 kernel, the fused TF32 tensor-core kernel. */
    public enum Reduction { TILES, FUSED, FUSED_TF32 }

    /**
     * Which device reduction runs, and why: the FP32 fused kernel where it passed its check at open; otherwise tiles. The
     * TF32 tensor-core kernel only where asked for ({@code --tf32} and {@code HEADSCAN_FUSED=tf32}) and it passed its
     * check: on the H200 it is slower than the FP32 kernel (docs/gpu.md), so {@code --tf32} alone changes cuBLAS's
     * GEMMs only.
     */
    public synchronized String reductionPath() {
        if (!kernel.available()) return "host (the CUDA kernels did not load: " + kernel.describe() + ")";
        if (!kernel.fusedAvailable()) return "tiles (the fused kernels are not in this build)";
        String env = System.getenv("HEADSCAN_FUSED");
        if ("0".equals(env)) return "tiles (HEADSCAN_FUSED=0)";
        String tf32Note = "";
        if (tf32 && "tf32".equals(env)) {
            String p = tf32Problem();
            if (p.isEmpty()) return "fused TF32 (tensor cores, HEADSCAN_FUSED=tf32; scores formed in registers, never written; checked on this GPU at start)";
            tf32Note = "; the TF32 kernel is not used: " + p;
        }
        return (fusedProblem.isEmpty() ? "fused (FP32; scores formed in registers, never written; checked on this GPU at start)"
                : "tiles (the fused kernel failed its check on this GPU: " + fusedProblem + ")") + tf32Note;
    }

    /** Empty when the fused FP32 kernel passed its check at open; otherwise what went wrong. */
    private String fusedProblem = "not checked";
    /** The same for the TF32 kernel. */
    private String tf32Problem = "not checked";
    private final int computeMajor;

    private String tf32Problem() {
        return tf32Problem;
    }

    /**
     * The kernels' own checks, run once when the backend opens: the FP32 fused kernel always, the TF32 one when TF32 is
     * allowed and this GPU has TF32 tensor cores. A kernel that gives wrong results is not used (the reason is kept for
     * {@link #reductionPath()}); a fault is a {@link GpuFaultException}, and the backend does not open.
     */
    private void checkKernels() {
        bind();
        fusedProblem = kernel.fusedAvailable() ? verify(false) : "the fused kernels are not in this build";
        if (!kernel.fusedTf32Available()) tf32Problem = "not in this build";
        else if (computeMajor < 8) tf32Problem = "this GPU (compute capability " + computeMajor + ".x) has no TF32 tensor cores";
        else if (!tf32) tf32Problem = "not checked: the backend was opened without TF32";
        else tf32Problem = verify(true);
    }

    /** null: as {@link #reductionPath()} decides; otherwise forced (tests and benchmarks compare the paths). */
    private Reduction forced;

    /** Forces a device reduction, or restores the automatic choice (null). */
    public synchronized void force(Reduction r) {
        forced = r;
    }

    /** Forces the fused FP32 (true) or the tile (false) device reduction, or restores the automatic choice (null). */
    public synchronized void forceFused(Boolean fused) {
        force(fused == null ? null : fused ? Reduction.FUSED : Reduction.TILES);
    }

    private Reduction reduction(int r) {
        if (r > ReduceKernel.FUSED_MAX_R) return Reduction.TILES;
        if (forced != null) {
            if (forced == Reduction.FUSED && !kernel.fusedAvailable()) throw new IllegalStateException("the fused kernels are not in this build");
            if (forced == Reduction.FUSED_TF32 && !tf32Problem().isEmpty()) throw new IllegalStateException("TF32 fused kernel: " + tf32Problem());
            return forced;
        }
        String path = reductionPath();
        return path.startsWith("fused TF32") ? Reduction.FUSED_TF32 : path.startsWith("fused") ? Reduction.FUSED : Reduction.TILES;
    }

    /** The fused FP32 kernel's own check on this GPU (see {@link #verify}): empty when it passed. */
    public synchronized String fusedCheck() {
        return fusedProblem;
    }

    /** The TF32 kernel's own check on this GPU: empty when it passed. */
    public synchronized String fusedTf32Check() {
        return tf32Problem();
    }

    /**
     * Runs a fused kernel once on a small problem whose every score is exact in float and in TF32 (small integer
     * factors, scale 1/8) and full of exact ties, and compares it with the same computation in Java doubles: counts
     * must be equal, sums within 1e-6 relative. The outputs start as a pattern no kernel writes (NaN sums, counts of
     * -1), so a kernel that writes nothing fails too. A kernel that disagrees is not used, and the reason is returned.
     * The device is synchronised at once: a fault (an illegal address, a trap) is sticky in CUDA, so it is thrown as a
     * {@link GpuFaultException} rather than taken as a reason to use another kernel on the same poisoned context.
     */
    private String verify(boolean tensorCores) {
        long toDeviceBefore = toDevice, toHostBefore = toHost;   // the check's own copies are not the work's: not counted
        try {
            return checkFusedKernel(tensorCores);
        } finally {
            toDevice = toDeviceBefore;
            toHost = toHostBefore;
        }
    }

    /**
     * The check's problem and its answer in Java doubles, the same for every kernel and every backend of the process:
     * small integer factors (exact in float and TF32), scale 1/8, a key equal to another (a tie with the diagonal) and
     * two equal queries, V = 517 (several 64-row blocks and 64-key tiles, neither a multiple).
     */
    private static final class CheckProblem {
        static final int V = 517, R = 64;
        static final float SCALE = 0.125f;
        static final float[] A = new float[V * R], B = new float[V * R];
        static final double[] SUM = new double[V];
        static final long[] GREATER = new long[V], LESS = new long[V];

        static {
            java.util.SplittableRandom rnd = new java.util.SplittableRandom(7);
            for (int i = 0; i < A.length; i++) {
                A[i] = rnd.nextInt(-3, 4);
                B[i] = rnd.nextInt(-3, 4);
            }
            System.arraycopy(B, 5 * R, B, 9 * R, R);      // key 9 = key 5: S[5, 9] ties the diagonal S[5, 5]
            System.arraycopy(A, 100 * R, A, 101 * R, R);  // two equal queries
            for (int t = 0; t < V; t++) {
                double ref = dot(A, B, t, t, R) * SCALE;
                for (int s = 0; s < V; s++) {
                    double x = dot(A, B, t, s, R) * SCALE;
                    SUM[t] += Math.exp(x - ref);
                    if (x > ref) GREATER[t]++;
                    if (x < ref) LESS[t]++;
                }
            }
        }
    }

    private String checkFusedKernel(boolean tensorCores) {
        String name = tensorCores ? "the TF32 fused kernel" : "the fused kernel";
        int v = CheckProblem.V, r = CheckProblem.R;
        float scale = CheckProblem.SCALE;
        float[] ha = CheckProblem.A, hb = CheckProblem.B;
        double[] wantSum = CheckProblem.SUM;
        long[] wantG = CheckProblem.GREATER, wantL = CheckProblem.LESS;
        double[] sum = new double[v];
        long[] g = new long[v], l = new long[v];
        String failure = null;
        MemorySegment dA = null, dB = null;
        try (Arena host = Arena.ofConfined()) {
            MemorySegment sa = host.allocate((long) v * r * Float.BYTES), sb = host.allocate((long) v * r * Float.BYTES);
            MemorySegment.copy(ha, 0, sa, ValueLayout.JAVA_FLOAT, 0, ha.length);
            MemorySegment.copy(hb, 0, sb, ValueLayout.JAVA_FLOAT, 0, hb.length);
            dA = malloc(sa.byteSize());
            dB = malloc(sb.byteSize());
            copy(dA, sa, sa.byteSize(), cudaMemcpyHostToDevice(), "fused-kernel check");
            copy(dB, sb, sb.byteSize(), cudaMemcpyHostToDevice(), "fused-kernel check");
            fusedRows(dA, r, dB, r, v, r, scale, sum, g, l, n -> { }, tensorCores);
        } catch (RuntimeException e) {
            failure = e.getMessage();
        }
        int rc = cudaDeviceSynchronize();
        if (rc != cudaSuccess()) {
            throw fault(device, "GPU " + device + " faulted while checking " + name + ": " + Cuda.describe(rc)
                    + "; CUDA keeps this error for the rest of the process, so this GPU is not used");
        }
        if (dA != null) cudaFree(dA);
        if (dB != null) cudaFree(dB);
        if (failure != null) return failure;
        for (int t = 0; t < v; t++) {
            if (g[t] != wantG[t] || l[t] != wantL[t]) {
                return "row " + t + ": counts " + g[t] + "/" + l[t] + ", expected " + wantG[t] + "/" + wantL[t];
            }
            if (!(Math.abs(sum[t] - wantSum[t]) <= 1e-6 * wantSum[t])) return "row " + t + ": sum " + sum[t] + ", expected " + wantSum[t];
        }
        return "";
    }

    private static double dot(float[] a, float[] b, int t, int s, int r) {
        double acc = 0;
        for (int k = 0; k < r; k++) acc += (double) a[t * r + k] * b[s * r + k];
        return acc;
    }

    /**
     * A fused kernel (FP32, or TF32 tensor cores) over all rows of device factors dA, dB [v, r], in chunks of rows (each
     * starting at a multiple of 64, as the TF32 kernel needs); results into the host arrays. Each chunk's outputs are
     * first set to a pattern no kernel writes (all bits set: NaN sums, counts of -1), so that rows a kernel skipped
     * never come back as stale numbers of an earlier launch.
     */
    private void fusedRows(MemorySegment dA, long lda, MemorySegment dB, long ldb, int v, int r, float scale,
                           double[] sumExpRef, long[] greater, long[] less, LongConsumer rowsDone, boolean tensorCores) {
        int chunk = Math.min(v, 16384);
        long outBytes = (long) chunk * 3 * Long.BYTES, allBytes = outBytes + (long) chunk * Float.BYTES;
        MemorySegment dOut = malloc(allBytes);
        try (Arena s = Arena.ofConfined()) {
            MemorySegment hostOut = s.allocate(outBytes, 8);
            MemorySegment dSum = dOut, dG = plus(dOut, (long) chunk * Long.BYTES), dL = plus(dOut, 2L * chunk * Long.BYTES);
            MemorySegment dRef = plus(dOut, 3L * chunk * Long.BYTES);
            for (int t0 = 0; t0 < v; t0 += chunk) {
                int n = Math.min(chunk, v - t0);
                Cuda.check(cudaMemset(dOut, 0xFF, allBytes), "cudaMemset (row results and diagonals: NaN until written)");
                if (tensorCores) kernel.launchFusedTf32(dA, lda, dB, ldb, v, r, scale, t0, n, dSum, dG, dL);
                else kernel.launchFused(dA, lda, dB, ldb, v, r, scale, t0, n, dRef, dSum, dG, dL);
                rowResults(hostOut, dOut, chunk, t0, n, sumExpRef, greater, less);
                rowsDone.accept(n);
            }
        } finally {
            cudaFree(dOut);
        }
    }

    @Override
    public synchronized boolean factoredReductionAvailable() {
        return kernel.available() && kernel.foldAvailable() && kernel.rowStepsAvailable();
    }

    @Override
    public synchronized FactorPhase reduceFactored(io.headscan.compute.Tensor x1, Matrix g1, Matrix w1, Transpose t1, io.headscan.compute.Tensor x2,
                                            Matrix g2, Matrix w2, Transpose t2, float scale, double[] sumExpRef, long[] greater, long[] less,
                                            LongConsumer rowsDone) {
        ensureOpen();
        int v = x1.rows(), d = x1.cols();
        int r = t1.on() ? w1.rows() : w1.cols();
        if (x2.rows() != v || x2.cols() != d) throw new IllegalArgumentException("x2 is " + x2.rows() + "x" + x2.cols() + ", expected " + v + "x" + d);
        for (Object[] w : new Object[][] {{w1, t1, "w1"}, {w2, t2, "w2"}}) {
            Matrix m = (Matrix) w[0];
            boolean tr = ((Transpose) w[1]).on();
            if ((tr ? m.cols() : m.rows()) != d || (tr ? m.rows() : m.cols()) != r) {
                throw new IllegalArgumentException("op(" + w[2] + ") is not [" + d + ", " + r + "]");
            }
        }
        if (sumExpRef.length < v || greater.length < v || less.length < v) throw new IllegalArgumentException("result arrays shorter than V = " + v);
        bind();
        MemorySegment dX1 = deviceAddress(x1, "x1"), dX2 = deviceAddress(x2, "x2");
        long start = System.nanoTime();
        Transfers before = transfers();
        MemorySegment dA = scratch(5, (long) v * r * Float.BYTES), dB = scratch(6, (long) v * r * Float.BYTES);
        factorOnDevice(dX1, x1.ld(), g1, w1, t1, v, d, r, dA, 3, 7, 9);
        factorOnDevice(dX2, x2.ld(), g2, w2, t2, v, d, r, dB, 4, 8, 10);
        Cuda.check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (after the factors)");
        FactorPhase phase = new FactorPhase(System.nanoTime() - start, transfers().minus(before));
        Reduction how = reduction(r);
        if (how == Reduction.TILES) tileRows(dA, r, dB, r, v, r, scale, sumExpRef, greater, less, rowsDone);
        else fusedRows(dA, r, dB, r, v, r, scale, sumExpRef, greater, less, rowsDone, how == Reduction.FUSED_TF32);
        return phase;
    }

    /** The device address of a tensor of one of this backend's device workspaces; any other tensor is refused by name. */
    private MemorySegment deviceAddress(io.headscan.compute.Tensor t, String argument) {
        if (!(t.owner() instanceof DeviceWorkspace w) || !w.belongsTo(this)) {
            throw new IllegalArgumentException(argument + " is a tensor of " + t.owner().backendName() + (t.owner().onHost() ? " host" : " device")
                    + " memory, not of this cuBLAS backend's device workspace");
        }
        if (t.owner().closed()) throw new IllegalArgumentException(argument + " is a tensor of a closed workspace");
        return plus(t.memory(), t.offset() * Float.BYTES);
    }

    /** out [v, r] (device, dense) = x · diag(g) · op(w): g folded into w on the device, then one GEMM. */
    private void factorOnDevice(MemorySegment dX, int ldx, Matrix g, Matrix w, Transpose tw, int v, int d, int r, MemorySegment out,
                                int foldSlot, int wSlot, int gSlot) {
        MemorySegment dW = onDevice(w.segment(), w.offset(), extent(w.rows(), w.cols(), w.ld()), wSlot);
        MemorySegment effective = dW;
        int ldw = w.ld();
        Transpose op = tw;
        if (g != null) {
            if (tw.on()) throw new IllegalArgumentException("a LayerNorm weight folds into an untransposed [d, r] weight only");
            if (g.rows() * g.cols() != d) throw new IllegalArgumentException("g has " + g.rows() * g.cols() + " entries, expected " + d);
            MemorySegment dG = onDevice(g.segment(), g.offset(), d, gSlot);
            effective = scratch(foldSlot, (long) d * r * Float.BYTES);
            kernel.launchFold(dW, w.ld(), dG, d, r, effective);
            ldw = r;
            op = Transpose.NO;
        }
        // row-major out [v, r] = X [v, d] · op(W): column-major outᵀ = op(W)ᵀ · Xᵀ
        try (Arena s = Arena.ofConfined()) {
            checkBlas(cublasSgemm_v2(handle, op(op), CUBLAS_OP_N(), r, v, d, s.allocateFrom(ValueLayout.JAVA_FLOAT, 1f), effective, ldw,
                    dX, ldx, s.allocateFrom(ValueLayout.JAVA_FLOAT, 0f), out, r), "cublasSgemm (factor)");
        }
    }

    @Override
    public synchronized void reduceScores(Matrix a, Matrix b, float scale, double[] sumExpRef, long[] greater, long[] less, LongConsumer rowsDone) {
        ensureOpen();
        int v = a.rows(), r = a.cols();
        if (b.rows() != v || b.cols() != r) throw new IllegalArgumentException("factors must both be [V, r]");
        if (sumExpRef.length < v || greater.length < v || less.length < v) throw new IllegalArgumentException("result arrays shorter than V = " + v);
        bind();
        MemorySegment dA = onDevice(a.segment(), a.offset(), extent(v, r, a.ld()), 0);
        MemorySegment dB = onDevice(b.segment(), b.offset(), extent(v, r, b.ld()), 1);
        Reduction how = reduction(r);
        if (how != Reduction.TILES) {
            fusedRows(dA, a.ld(), dB, b.ld(), v, r, scale, sumExpRef, greater, less, rowsDone, how == Reduction.FUSED_TF32);
            return;
        }
        tileRows(dA, a.ld(), dB, b.ld(), v, r, scale, sumExpRef, greater, less, rowsDone);
    }

    /**
     * Brings back a chunk's three numbers per row (device layout: {@code capacity} sums, then as many greater counts,
     * then as many less counts) and stores rows t0 .. t0+n-1 of them.
     */
    private void rowResults(MemorySegment hostOut, MemorySegment dOut, int capacity, int t0, int n, double[] sumExpRef, long[] greater, long[] less) {
        copy(hostOut, dOut, (long) capacity * 3 * Long.BYTES, cudaMemcpyDeviceToHost(), "row results to host");
        for (int i = 0; i < n; i++) {
            sumExpRef[t0 + i] = hostOut.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
            greater[t0 + i] = hostOut.getAtIndex(ValueLayout.JAVA_LONG, capacity + i);
            less[t0 + i] = hostOut.getAtIndex(ValueLayout.JAVA_LONG, 2L * capacity + i);
        }
    }

    /** The tile path over device factors: cuBLAS writes tiles of S into device memory, hs_reduce_tile reduces them there. */
    private void tileRows(MemorySegment dA, int lda, MemorySegment dB, int ldb, int v, int r, float scale,
                          double[] sumExpRef, long[] greater, long[] less, LongConsumer rowsDone) {
        int tile = tileRows(v);
        MemorySegment dS = scratch(2, (long) tile * v * Float.BYTES);
        MemorySegment dOut = malloc((long) tile * 3 * Long.BYTES);
        try (Arena s = Arena.ofConfined()) {
            MemorySegment alpha = s.allocateFrom(ValueLayout.JAVA_FLOAT, scale), zero = s.allocateFrom(ValueLayout.JAVA_FLOAT, 0f);
            MemorySegment hostOut = s.allocate((long) tile * 3 * Long.BYTES, 8);
            for (int t0 = 0; t0 < v; t0 += tile) {
                int n = Math.min(tile, v - t0);
                // S[t0 .. t0+n) = scale · A[t0 ..] · Bᵀ, row-major n × V (ld V): column-major Sᵀ = op_T(B) · op_N(A rows)
                checkBlas(cublasSgemm_v2(handle, CUBLAS_OP_T(), CUBLAS_OP_N(), v, n, r, alpha, dB, ldb,
                        plus(dA, (long) t0 * lda * Float.BYTES), lda, zero, dS, v), "cublasSgemm (score tile)");
                kernel.launch(dS, n, v, v, t0, dOut, plus(dOut, (long) tile * Long.BYTES), plus(dOut, 2L * tile * Long.BYTES));
                rowResults(hostOut, dOut, tile, t0, n, sumExpRef, greater, less);
                rowsDone.accept(n);
            }
        } finally {
            cudaFree(dOut);
        }
    }

    /** Query rows per device tile: as many as a quarter of the free device memory holds, between 128 and 8192. */
    private static int tileRows(int v) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment free = a.allocate(ValueLayout.JAVA_LONG), total = a.allocate(ValueLayout.JAVA_LONG);
            long bytes = cudaMemGetInfo(free, total) == cudaSuccess() ? free.get(ValueLayout.JAVA_LONG, 0) / 4 : 256L << 20;
            long rows = bytes / ((long) v * Float.BYTES);
            return (int) Math.max(128, Math.min(8192, Math.min(rows, v)));
        }
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("the cuBLAS backend is closed");
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        cudaSetDevice(device);   // whatever it returns: everything below is released on this device or not at all
        closed = true;
        for (MemorySegment d : resident.values()) cudaFree(d);
        resident.clear();
        retained.clear();
        for (MemorySegment d : scratch) if (d != null) cudaFree(d);
        cublasDestroy_v2(handle);
        kernel.close();
        arena.close();
    }
}
