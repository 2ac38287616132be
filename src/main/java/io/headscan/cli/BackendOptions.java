package io.headscan.cli;

import io.headscan.compute.BackendKind;
import io.headscan.compute.Backends;
import java.nio.file.Path;
import java.util.Optional;
import picocli.CommandLine.Option;

/** The options every computing command shares: --backend, --threads, --openblas, --cuda-lib, --tf32, --profile. */
final class BackendOptions {

    @Option(names = "--backend", paramLabel = "auto|cublas|openblas|java", defaultValue = "auto",
            description = "Compute backend (default: ${DEFAULT-VALUE}). auto takes cuBLAS when a GPU works, else OpenBLAS, and says why.")
    String backend;

    @Option(names = "--threads", paramLabel = "N",
            description = "Threads for the backend, 1 to the number of cores (default: all cores; OPENBLAS_NUM_THREADS is honoured by OpenBLAS itself).")
    Integer threads;

    @Option(names = "--openblas", paramLabel = "PATH",
            description = "Use this OpenBLAS shared library instead of the bundled one (also: HEADSCAN_OPENBLAS).")
    Path openblas;

    @Option(names = "--cuda-lib", paramLabel = "DIR",
            description = "Folder holding libcudart/libcublas (also: HEADSCAN_CUDA_LIB; default: CUDA_HOME, /usr/local/cuda, the loader path, Python nvidia/*/lib).")
    Path cudaLib;

    @Option(names = "--tf32", description = "Let cuBLAS use TF32 tensor cores for its GEMMs (products rounded to 10-bit mantissas, so near-tied ranks can change; the full-vocabulary reduction stays FP32, see docs/gpu.md).")
    boolean tf32;

    @Option(names = "--profile", description = "Print per-phase timings on stderr, and the backend's whole account (libraries, why others were skipped).")
    boolean profile;

    /**
     * With --profile, what a computing command adds after its timings: where each step ran (a GPU backend's row steps
     * without a device kernel ran on the host) and the widened weights' peak (half-precision checkpoints).
     */
    void profileFooter(java.io.PrintWriter err, io.headscan.model.Model m, io.headscan.compute.Backend backend) {
        if (!profile) return;
        java.util.List<String> host = backend.hostSteps();
        if (!host.isEmpty()) err.println("profile: where each step ran: on the host (no device kernel yet): " + String.join(", ", host) + "; every other step on the device");
        if (m.zeroCopy()) {
            err.println("profile: weights: F32, used in place (nothing widened)");
        } else {
            err.printf(java.util.Locale.ROOT, "profile: weights: widened to F32 a layer at a time: peak %.1f MiB of widened copies, %d tensors widened "
                    + "(the W_EE table and token rows aside)%n",
                    m.widenedPeakBytes() / 1048576.0, m.widenings());
        }
    }

    /** Usage errors in these options, found before any work starts. */
    void check() {
        kind();
        threadCount(threads, "--threads");
    }

    BackendKind kind() {
        try {
            return BackendKind.parse(backend);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--backend: " + e.getMessage());
        }
    }

    /** A thread count given with {@code flag}: 0 for "not given" (all cores), else 1 to the number of cores. */
    static int threadCount(Integer threads, String flag) {
        if (threads == null) return 0;
        int cores = Runtime.getRuntime().availableProcessors();
        if (threads < 1 || threads > cores) {
            throw new UsageException(flag + " " + threads + ": must be between 1 and " + cores + " (the cores this machine has); leave it out to use all");
        }
        return threads;
    }

    Backends.Options options() {
        return new Backends.Options(Optional.ofNullable(openblas), threadCount(threads, "--threads"), Optional.ofNullable(cudaLib), tf32);
    }
}
