package io.headscan.compute.cuda;

import static io.headscan.bindings.cuda.cuda_runtime_h.*;

import io.headscan.compute.BackendException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The CUDA runtime behind the jextract bindings: found with {@link CudaLibraries}, loaded once per process, and
 * asked for a device. On a machine without a GPU or driver {@code cudaGetDeviceCount} fails (error 35,
 * cudaErrorInsufficientDriver, where the runtime exists but no driver does): that becomes a
 * {@link BackendException} with the runtime's own name and text for the error, never a crash.
 */
public final class Cuda {

    private static Path loadedRuntime;

    private Cuda() {}

    /** Loads libcudart (once) and returns where it came from. */
    public static synchronized Path loadRuntime(CudaLibraries libs) {
        if (loadedRuntime != null) {
            Optional<Path> wanted = libs.explicitFolder();
            if (wanted.isPresent() && !loadedRuntime.toAbsolutePath().startsWith(wanted.get().toAbsolutePath())) {
                throw new BackendException("the CUDA runtime is already loaded from " + loadedRuntime + " in this process; cannot also use " + wanted.get());
            }
            return loadedRuntime;
        }
        Path p = libs.require("CUDA runtime", CudaLibraries.CUDART);
        load(p);
        loadedRuntime = p;
        return p;
    }

    static void load(Path lib) {
        try {
            System.load(lib.toString());
        } catch (UnsatisfiedLinkError e) {
            throw new BackendException("cannot load " + lib + ": " + e.getMessage(), e);
        }
    }

    private static Integer devices;
    private static BackendException noDevice;

    /**
     * The number of CUDA devices, or a {@link BackendException} saying why there is none to use. Asked once per
     * process (the runtime's answer does not change while it runs).
     */
    public static synchronized int deviceCount() {
        if (noDevice != null) throw new BackendException(noDevice.getMessage());
        if (devices == null) {
            try {
                devices = queryDeviceCount();
            } catch (BackendException e) {
                noDevice = e;
                throw e;
            }
        }
        return devices;
    }

    private static int queryDeviceCount() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment n = arena.allocate(ValueLayout.JAVA_INT);
            int rc = cudaGetDeviceCount(n);
            if (rc != cudaSuccess()) {
                throw new BackendException("no usable GPU: cudaGetDeviceCount returned " + describe(rc)
                        + (rc == cudaErrorInsufficientDriver() ? " (no NVIDIA driver on this machine, or one older than the runtime)" : ""));
            }
            int count = n.get(ValueLayout.JAVA_INT, 0);
            if (count <= 0) throw new BackendException("no usable GPU: cudaGetDeviceCount found no CUDA device");
            return count;
        }
    }

    /**
     * The number of GPUs the CUDA driver itself reports (cuInit, cuDeviceGetCount), whatever their device numbers: 0
     * when there is no driver library, or when it finds no device (a stub library, no device node). This is how tests
     * decide that a GPU is present; a scheduler may expose a single GPU under any index.
     */
    public static synchronized int driverDeviceCount() {
        Optional<Path> driver = CudaLibraries.fromEnvironment(Optional.empty()).find(CudaLibraries.DRIVER);
        if (driver.isEmpty()) return 0;
        try {
            load(driver.get());
        } catch (BackendException e) {
            return 0;
        }
        // two driver calls, looked up directly (the generated driver bindings hold only what the kernels need)
        var linker = java.lang.foreign.Linker.nativeLinker();
        var lookup = java.lang.foreign.SymbolLookup.loaderLookup();
        var init = lookup.find("cuInit");
        var count = lookup.find("cuDeviceGetCount");
        if (init.isEmpty() || count.isEmpty()) return 0;
        try (Arena arena = Arena.ofConfined()) {
            var cuInit = linker.downcallHandle(init.get(), java.lang.foreign.FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            var cuCount = linker.downcallHandle(count.get(), java.lang.foreign.FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
            if ((int) cuInit.invokeExact(0) != 0) return 0;
            MemorySegment n = arena.allocate(ValueLayout.JAVA_INT);
            if ((int) cuCount.invokeExact(n) != 0) return 0;
            return Math.max(0, n.get(ValueLayout.JAVA_INT, 0));
        } catch (Throwable t) {
            if (t instanceof Error e) throw e;
            return 0;
        }
    }

    /**
     * The device that holds device memory {@code p}, from {@code cudaPointerGetAttributes} (called directly: it is not
     * among the generated bindings). struct cudaPointerAttributes is {type, device, devicePointer, hostPointer,
     * reserved[8]} in CUDA 12 and 13: {@code device} is the int at offset 4.
     */
    static int deviceOfPointer(MemorySegment p) {
        var f = java.lang.foreign.SymbolLookup.loaderLookup().find("cudaPointerGetAttributes")
                .orElseThrow(() -> new BackendException("cudaPointerGetAttributes is not in the loaded CUDA runtime"));
        var h = java.lang.foreign.Linker.nativeLinker().downcallHandle(f,
                java.lang.foreign.FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment attrs = arena.allocate(4 + 4 + 8 + 8 + 8 * 8, 8);
            int rc = (int) h.invokeExact(attrs, p);
            check(rc, "cudaPointerGetAttributes");
            return attrs.get(ValueLayout.JAVA_INT, 4);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new BackendException("cudaPointerGetAttributes: " + t, t);
        }
    }

    /** "cudaErrorInsufficientDriver (error 35): CUDA driver version is insufficient for CUDA runtime version". */
    public static String describe(int rc) {
        return cString(cudaGetErrorName(rc), "cudaError") + " (error " + rc + "): " + cString(cudaGetErrorString(rc), "unknown error");
    }

    static void check(int rc, String call) {
        if (rc != cudaSuccess()) throw new BackendException(call + " failed: " + describe(rc));
    }

    static String cString(MemorySegment p, String fallback) {
        if (p == null || p.equals(MemorySegment.NULL)) return fallback;
        return p.reinterpret(1024).getString(0);
    }

    /** The runtime's version as an integer, e.g. 13000. */
    public static int runtimeVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            check(cudaRuntimeGetVersion(v), "cudaRuntimeGetVersion");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }
}
