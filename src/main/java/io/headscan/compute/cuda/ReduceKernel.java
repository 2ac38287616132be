package io.headscan.compute.cuda;

import static io.headscan.bindings.cuda.cuda_driver_h.*;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/**
 * The CUDA kernels of {@code native/cuda/headscan_reduce.cu}, loaded through the driver API: {@code hs_reduce_tile}
 * (reduces a score tile that cuBLAS wrote) and the fused pair {@code hs_fused_diag} / {@code hs_fused_rows} (forms the
 * scores in registers and reduces them, never writing S). The build's fat binary (sm_90 and sm_80 code, plus PTX that
 * the driver compiles for any other GPU) or, failing that, its PTX goes to {@code cuModuleLoadData}. When the jar has
 * neither (built without nvcc) or the driver library cannot be loaded, the kernels are unavailable and the cuBLAS
 * backend computes score tiles on the GPU and reduces them on the CPU.
 */
final class ReduceKernel implements AutoCloseable {

    static final String PTX = "io/headscan/native/cuda/headscan_reduce.ptx";
    static final String FATBIN = "io/headscan/native/cuda/headscan_reduce.fatbin";
    private static final int THREADS = 256;
    /** Rows per block of hs_fused_rows, and the largest factor width it takes. */
    static final int FUSED_ROWS = 64, FUSED_MAX_R = 64;

    private final MemorySegment module, function, fusedDiag, fusedRows;
    private MemorySegment foldRows, rowsAffine, biasGelu, fusedTf32;
    private final String state;

    private ReduceKernel(MemorySegment module, MemorySegment function, String state) {
        this(module, function, null, null, state);
    }

    private ReduceKernel(MemorySegment module, MemorySegment function, MemorySegment fusedDiag, MemorySegment fusedRows, String state) {
        this.module = module;
        this.function = function;
        this.fusedDiag = fusedDiag;
        this.fusedRows = fusedRows;
        this.state = state;
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = ReduceKernel.class.getClassLoader().getResourceAsStream(name)) {
            return in == null ? null : in.readAllBytes();
        }
    }

    /** A module image for {@code cuModuleLoadData}: a fat binary, or PTX text (NUL-terminated here). */
    record Image(byte[] bytes, String kind) {
        static Image ptx(String text) {
            byte[] b = text.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            return new Image(java.util.Arrays.copyOf(b, b.length + 1), "PTX");
        }

        /** The build's own: its fat binary, else its PTX; null when the jar has neither (built without nvcc). */
        static Image build() throws IOException {
            byte[] fat = resource(FATBIN);
            if (fat != null) return new Image(fat, "build's fat binary");
            byte[] ptx = resource(PTX);
            return ptx == null ? null : new Image(java.util.Arrays.copyOf(ptx, ptx.length + 1), "build's PTX");
        }
    }

    /**
     * Loads the kernels from {@code image} (null: the build's). Never throws for the module itself: a module the driver
     * refuses (a driver older than the PTX, no code for this GPU, a damaged image) or one without hs_reduce_tile gives
     * kernels that are unavailable, with the driver's reason, and the cuBLAS backend works without them.
     */
    static ReduceKernel load(CudaLibraries libs, Image image) {
        try {
            if (image == null) image = Image.build();
        } catch (IOException e) {
            return new ReduceKernel(null, null, "unavailable (" + e.getMessage() + ")");
        }
        if (image == null) return new ReduceKernel(null, null, "unavailable (this build had no nvcc; tiles are reduced on the CPU)");
        Path driver = libs.find(CudaLibraries.DRIVER).orElse(null);
        if (driver == null) return new ReduceKernel(null, null, "unavailable (libcuda.so.1 not found; tiles are reduced on the CPU)");
        MemorySegment mod = null;
        try (Arena a = Arena.ofConfined()) {
            Cuda.load(driver);
            check(cuInit(0), "cuInit");
            MemorySegment mp = a.allocate(ValueLayout.ADDRESS), fp = a.allocate(ValueLayout.ADDRESS);
            check(cuModuleLoadData(mp, a.allocateFrom(ValueLayout.JAVA_BYTE, image.bytes())), "cuModuleLoadData (headscan_reduce, " + image.kind() + ")");
            mod = mp.get(ValueLayout.ADDRESS, 0);
            check(cuModuleGetFunction(fp, mod, a.allocateFrom("hs_reduce_tile")), "cuModuleGetFunction(hs_reduce_tile)");
            MemorySegment tile = fp.get(ValueLayout.ADDRESS, 0);
            MemorySegment diag = null, rows = null;
            if (cuModuleGetFunction(fp, mod, a.allocateFrom("hs_fused_diag")) == CUDA_SUCCESS()) diag = fp.get(ValueLayout.ADDRESS, 0);
            if (cuModuleGetFunction(fp, mod, a.allocateFrom("hs_fused_rows")) == CUDA_SUCCESS()) rows = fp.get(ValueLayout.ADDRESS, 0);
            ReduceKernel k = new ReduceKernel(mod, tile, diag, rows, "CUDA kernels from the " + image.kind() + " (driver " + driver + ")");
            if (cuModuleGetFunction(fp, mod, a.allocateFrom("hs_fold_rows")) == CUDA_SUCCESS()) k.foldRows = fp.get(ValueLayout.ADDRESS, 0);
            if (cuModuleGetFunction(fp, mod, a.allocateFrom("hs_rows_affine_dev")) == CUDA_SUCCESS()) k.rowsAffine = fp.get(ValueLayout.ADDRESS, 0);
            if (cuModuleGetFunction(fp, mod, a.allocateFrom("hs_bias_gelu_dev")) == CUDA_SUCCESS()) k.biasGelu = fp.get(ValueLayout.ADDRESS, 0);
            if (cuModuleGetFunction(fp, mod, a.allocateFrom("hs_fused_rows_tf32")) == CUDA_SUCCESS()) k.fusedTf32 = fp.get(ValueLayout.ADDRESS, 0);
            return k;
        } catch (io.headscan.compute.BackendException e) {
            if (mod != null) cuModuleUnload(mod);
            return new ReduceKernel(null, null, "unavailable (" + e.getMessage() + "; matrix products still run on cuBLAS, tiles are reduced on the CPU)");
        }
    }

    /** Whether hs_fold_rows (a LayerNorm weight folded into a [d, r] weight on the device) is in the module. */
    boolean foldAvailable() {
        return foldRows != null;
    }

    /** out (device, dense d × r) = diag(g) · w for a device [d, r] weight w with leading dimension ldw; g null: a plain copy. */
    void launchFold(MemorySegment w, long ldw, MemorySegment g, long d, long r, MemorySegment out) {
        if (!foldAvailable()) throw new IllegalStateException("hs_fold_rows is not loaded: " + state);
        try (Arena s = Arena.ofConfined()) {
            call(s, foldRows, (int) ((d * r + THREADS - 1) / THREADS), 1, THREADS, 1, "hs_fold_rows",
                    s.allocateFrom(ValueLayout.ADDRESS, w), s.allocateFrom(ValueLayout.JAVA_LONG, ldw),
                    s.allocateFrom(ValueLayout.ADDRESS, g == null ? MemorySegment.NULL : g), s.allocateFrom(ValueLayout.JAVA_LONG, d),
                    s.allocateFrom(ValueLayout.JAVA_LONG, r), s.allocateFrom(ValueLayout.ADDRESS, out));
        }
    }

    /** Whether the TF32 tensor-core fused kernel is in the module (it runs on compute capability 8.0 or newer only). */
    boolean fusedTf32Available() {
        return fusedTf32 != null;
    }

    /**
     * hs_fused_rows_tf32: the fused reduction of query rows t0 .. t0+rows-1 on TF32 tensor cores; t0 must be a multiple
     * of 64 (each block's first key tile is its own rows, where it reads the diagonal). Outputs as for {@link #launch}.
     */
    void launchFusedTf32(MemorySegment a, long lda, MemorySegment b, long ldb, long v, int r, float scale, long t0, long rows,
                         MemorySegment sumOut, MemorySegment greaterOut, MemorySegment lessOut) {
        if (!fusedTf32Available()) throw new IllegalStateException("the TF32 fused kernel is not loaded: " + state);
        if (r > FUSED_MAX_R) throw new IllegalArgumentException("factor width " + r + " > " + FUSED_MAX_R);
        if (t0 % FUSED_ROWS != 0) throw new IllegalArgumentException("t0 = " + t0 + " is not a multiple of " + FUSED_ROWS);
        try (Arena s = Arena.ofConfined()) {
            call(s, fusedTf32, (int) ((rows + FUSED_ROWS - 1) / FUSED_ROWS), 1, 128, 1, "hs_fused_rows_tf32",
                    s.allocateFrom(ValueLayout.ADDRESS, a), s.allocateFrom(ValueLayout.JAVA_LONG, lda), s.allocateFrom(ValueLayout.ADDRESS, b),
                    s.allocateFrom(ValueLayout.JAVA_LONG, ldb), s.allocateFrom(ValueLayout.JAVA_LONG, v), s.allocateFrom(ValueLayout.JAVA_INT, r),
                    s.allocateFrom(ValueLayout.JAVA_FLOAT, scale), s.allocateFrom(ValueLayout.JAVA_LONG, t0), s.allocateFrom(ValueLayout.JAVA_LONG, rows),
                    s.allocateFrom(ValueLayout.ADDRESS, sumOut), s.allocateFrom(ValueLayout.ADDRESS, greaterOut),
                    s.allocateFrom(ValueLayout.ADDRESS, lessOut));
        }
    }

    /** Whether the row steps (hs_rows_affine_dev, hs_bias_gelu_dev) are in the module: a device workspace needs them. */
    boolean rowStepsAvailable() {
        return rowsAffine != null && biasGelu != null;
    }

    /** Blocks for the row kernels: enough to fill any GPU, grid-strided beyond that. */
    private static final int ROW_BLOCKS = 65535;

    /**
     * hs_rows_affine_dev over device memory (see native/cuda/headscan_reduce.cu): y[r] = step(x[index[r] or r]) + add[r].
     * Null vectors, index or add are skipped; {@code norm} is {@link io.headscan.compute.kernels.RowAffine.Norm#ordinal()}.
     */
    void launchRows(MemorySegment x, long ldx, MemorySegment index, long rows, long cols, MemorySegment preScale, MemorySegment preBias,
                    int norm, MemorySegment scale, MemorySegment bias, MemorySegment add, long ldadd, MemorySegment y, long ldy) {
        if (!rowStepsAvailable()) throw new IllegalStateException("the CUDA row kernels are not loaded: " + state);
        if (rows == 0) return;
        try (Arena s = Arena.ofConfined()) {
            call(s, rowsAffine, (int) Math.min(rows, ROW_BLOCKS), 1, 256, 1, "hs_rows_affine_dev",
                    address(s, x), s.allocateFrom(ValueLayout.JAVA_LONG, ldx), address(s, index), s.allocateFrom(ValueLayout.JAVA_LONG, rows),
                    s.allocateFrom(ValueLayout.JAVA_LONG, cols), address(s, preScale), address(s, preBias), s.allocateFrom(ValueLayout.JAVA_INT, norm),
                    address(s, scale), address(s, bias), address(s, add), s.allocateFrom(ValueLayout.JAVA_LONG, ldadd), address(s, y),
                    s.allocateFrom(ValueLayout.JAVA_LONG, ldy));
        }
    }

    /** hs_bias_gelu_dev: h = gelu_new(h + bias) in place over a rows × cols device tile. */
    void launchBiasGelu(MemorySegment h, long rows, long cols, long ld, MemorySegment bias) {
        if (!rowStepsAvailable()) throw new IllegalStateException("the CUDA row kernels are not loaded: " + state);
        if (rows == 0) return;
        try (Arena s = Arena.ofConfined()) {
            call(s, biasGelu, (int) Math.min((rows * cols + THREADS - 1) / THREADS, ROW_BLOCKS), 1, THREADS, 1, "hs_bias_gelu_dev",
                    address(s, h), s.allocateFrom(ValueLayout.JAVA_LONG, rows), s.allocateFrom(ValueLayout.JAVA_LONG, cols),
                    s.allocateFrom(ValueLayout.JAVA_LONG, ld), address(s, bias));
        }
    }

    private static MemorySegment address(Arena s, MemorySegment p) {
        return s.allocateFrom(ValueLayout.ADDRESS, p == null ? MemorySegment.NULL : p);
    }

    /** Whether the fused kernels (scores formed in registers, never written) are in the module. */
    boolean fusedAvailable() {
        return fusedDiag != null && fusedRows != null;
    }

    /**
     * The fused reduction of query rows t0 .. t0+rows-1 of S = scale · A·Bᵀ (A, B device [V, r], r <= 64) against all V
     * keys: {@code ref} (device, rows floats) receives S[t, t]; the outputs as for {@link #launch}.
     */
    void launchFused(MemorySegment a, long lda, MemorySegment b, long ldb, long v, int r, float scale, long t0, long rows,
                     MemorySegment ref, MemorySegment sumOut, MemorySegment greaterOut, MemorySegment lessOut) {
        if (!fusedAvailable()) throw new IllegalStateException("the fused CUDA kernels are not loaded: " + state);
        if (r > FUSED_MAX_R) throw new IllegalArgumentException("factor width " + r + " > " + FUSED_MAX_R);
        try (Arena s = Arena.ofConfined()) {
            call(s, fusedDiag, (int) ((rows + THREADS - 1) / THREADS), 1, THREADS, 1, "hs_fused_diag",
                    s.allocateFrom(ValueLayout.ADDRESS, a), s.allocateFrom(ValueLayout.JAVA_LONG, lda), s.allocateFrom(ValueLayout.ADDRESS, b),
                    s.allocateFrom(ValueLayout.JAVA_LONG, ldb), s.allocateFrom(ValueLayout.JAVA_INT, r), s.allocateFrom(ValueLayout.JAVA_FLOAT, scale),
                    s.allocateFrom(ValueLayout.JAVA_LONG, t0), s.allocateFrom(ValueLayout.JAVA_LONG, rows), s.allocateFrom(ValueLayout.ADDRESS, ref));
            call(s, fusedRows, (int) ((rows + FUSED_ROWS - 1) / FUSED_ROWS), 1, 16, 16, "hs_fused_rows",
                    s.allocateFrom(ValueLayout.ADDRESS, a), s.allocateFrom(ValueLayout.JAVA_LONG, lda), s.allocateFrom(ValueLayout.ADDRESS, b),
                    s.allocateFrom(ValueLayout.JAVA_LONG, ldb), s.allocateFrom(ValueLayout.JAVA_LONG, v), s.allocateFrom(ValueLayout.JAVA_INT, r),
                    s.allocateFrom(ValueLayout.JAVA_FLOAT, scale), s.allocateFrom(ValueLayout.JAVA_LONG, t0), s.allocateFrom(ValueLayout.JAVA_LONG, rows),
                    s.allocateFrom(ValueLayout.ADDRESS, ref), s.allocateFrom(ValueLayout.ADDRESS, sumOut),
                    s.allocateFrom(ValueLayout.ADDRESS, greaterOut), s.allocateFrom(ValueLayout.ADDRESS, lessOut));
        }
    }

    private static void call(Arena s, MemorySegment function, int gridX, int gridY, int blockX, int blockY, String name, MemorySegment... args) {
        MemorySegment params = s.allocate(ValueLayout.ADDRESS, args.length);
        for (int i = 0; i < args.length; i++) params.setAtIndex(ValueLayout.ADDRESS, i, args[i]);
        check(cuLaunchKernel(function, gridX, gridY, 1, blockX, blockY, 1, 0, MemorySegment.NULL, params, MemorySegment.NULL), "cuLaunchKernel(" + name + ")");
    }

    boolean available() {
        return function != null;
    }

    String describe() {
        return state;
    }

    /** hs_reduce_tile over a rows × cols device tile (leading dimension ld) whose row i has its reference at column diag0 + i. */
    void launch(MemorySegment tile, long rows, long cols, long ld, long diag0, MemorySegment sumOut, MemorySegment greaterOut, MemorySegment lessOut) {
        if (!available()) throw new IllegalStateException("the CUDA reduction kernel is not loaded: " + state);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment[] args = {
                a.allocateFrom(ValueLayout.ADDRESS, tile), a.allocateFrom(ValueLayout.JAVA_LONG, rows), a.allocateFrom(ValueLayout.JAVA_LONG, cols),
                a.allocateFrom(ValueLayout.JAVA_LONG, ld), a.allocateFrom(ValueLayout.JAVA_LONG, diag0), a.allocateFrom(ValueLayout.ADDRESS, sumOut),
                a.allocateFrom(ValueLayout.ADDRESS, greaterOut), a.allocateFrom(ValueLayout.ADDRESS, lessOut)};
            MemorySegment params = a.allocate(ValueLayout.ADDRESS, args.length);
            for (int i = 0; i < args.length; i++) params.setAtIndex(ValueLayout.ADDRESS, i, args[i]);
            check(cuLaunchKernel(function, (int) rows, 1, 1, THREADS, 1, 1, 0, MemorySegment.NULL, params, MemorySegment.NULL), "cuLaunchKernel(hs_reduce_tile)");
        }
    }

    private static void check(int rc, String call) {
        if (rc != CUDA_SUCCESS()) {
            String name = "CUresult " + rc;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ValueLayout.ADDRESS);
                if (cuGetErrorName(rc, p) == CUDA_SUCCESS()) name = Cuda.cString(p.get(ValueLayout.ADDRESS, 0), name);
            }
            throw new io.headscan.compute.BackendException(call + " failed: " + name);
        }
    }

    @Override
    public void close() {
        if (module != null) cuModuleUnload(module);
    }
}
