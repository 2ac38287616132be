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

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
            description = "Threads for the backend (default: all cores; OPENBLAS_NUM_THREADS is honoured by OpenBLAS itself).")
    int threads;

    @Option(names = "--openblas", paramLabel = "PATH",
            description = "Use this OpenBLAS shared library instead of the bundled one (also: HEADSCAN_OPENBLAS).")
    Path openblas;

    @Option(names = "--cuda-lib", paramLabel = "DIR",
            description = "Folder holding libcudart/libcublas (also: HEADSCAN_CUDA_LIB; default: CUDA_HOME, /usr/local/cuda, the loader path, Python nvidia/*/lib).")
    Path cudaLib;

    @Option(names = "--tf32", description = "Let cuBLAS use TF32 tensor cores (faster; products rounded to 10-bit mantissas, so near-tied ranks can change).")
    boolean tf32;

    @Option(names = "--profile", description = "Print per-phase timings on stderr.")
    boolean profile;

    BackendKind kind() {
        return BackendKind.parse(backend);
    }

    Backends.Options options() {
        if (threads < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
        return new Backends.Options(Optional.ofNullable(openblas), threads, Optional.ofNullable(cudaLib), tf32);
    }
}
