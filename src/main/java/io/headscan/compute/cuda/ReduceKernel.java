package io.headscan.compute.cuda;

import static io.headscan.bindings.cuda.cuda_driver_h.*;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/**
 * The CUDA kernel {@code hs_reduce_tile} ({@code native/cuda/headscan_reduce.cu}), loaded through the driver API:
 * the PTX that the build made with nvcc (shipped in the jar) goes to {@code cuModuleLoadData}, which compiles it
 * for the GPU at hand. When the jar has no PTX (built without nvcc) or the driver library cannot be loaded, the
 * kernel is unavailable and the cuBLAS backend computes score tiles on the GPU and reduces them on the CPU.
 */
final class ReduceKernel implements AutoCloseable {

    static final String PTX = "io/headscan/native/cuda/headscan_reduce.ptx";
    private static final int THREADS = 256;

    private final MemorySegment module, function;
    private final String state;

    private ReduceKernel(MemorySegment module, MemorySegment function, String state) {
        this.module = module;
        this.function = function;
        this.state = state;
    }

    static ReduceKernel load(CudaLibraries libs) {
        byte[] ptx;
        try (InputStream in = ReduceKernel.class.getClassLoader().getResourceAsStream(PTX)) {
            if (in == null) return new ReduceKernel(null, null, "unavailable (this build had no nvcc; tiles are reduced on the CPU)");
            ptx = in.readAllBytes();
        } catch (IOException e) {
            return new ReduceKernel(null, null, "unavailable (" + e.getMessage() + ")");
        }
        Path driver = libs.find(CudaLibraries.DRIVER).orElse(null);
        if (driver == null) return new ReduceKernel(null, null, "unavailable (libcuda.so.1 not found; tiles are reduced on the CPU)");
        Cuda.load(driver);
        check(cuInit(0), "cuInit");
        try (Arena a = Arena.ofConfined()) {
            byte[] image = java.util.Arrays.copyOf(ptx, ptx.length + 1);   // NUL-terminated PTX text
            MemorySegment mp = a.allocate(ValueLayout.ADDRESS), fp = a.allocate(ValueLayout.ADDRESS);
            check(cuModuleLoadData(mp, a.allocateFrom(ValueLayout.JAVA_BYTE, image)), "cuModuleLoadData (headscan_reduce.ptx)");
            MemorySegment mod = mp.get(ValueLayout.ADDRESS, 0);
            check(cuModuleGetFunction(fp, mod, a.allocateFrom("hs_reduce_tile")), "cuModuleGetFunction(hs_reduce_tile)");
            return new ReduceKernel(mod, fp.get(ValueLayout.ADDRESS, 0), "CUDA hs_reduce_tile (PTX from nvcc, driver " + driver + ")");
        }
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
