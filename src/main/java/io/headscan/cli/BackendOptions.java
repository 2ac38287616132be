package io.headscan.cli;

import io.headscan.compute.BackendKind;
import io.headscan.compute.Backends;
import java.nio.file.Path;
import java.util.Optional;
import picocli.CommandLine.Option;

/** The options every computing command shares: --backend, --threads, --openblas. */
final class BackendOptions {

    @Option(names = "--backend", paramLabel = "auto|openblas|java", defaultValue = "auto",
            description = "Compute backend (default: ${DEFAULT-VALUE}). auto takes OpenBLAS and says why if it cannot.")
    String backend;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
            description = "Threads for the backend (default: all cores; OPENBLAS_NUM_THREADS is honoured by OpenBLAS itself).")
    int threads;

    @Option(names = "--openblas", paramLabel = "PATH",
            description = "Use this OpenBLAS shared library instead of the bundled one (also: HEADSCAN_OPENBLAS).")
    Path openblas;

    @Option(names = "--profile", description = "Print per-phase timings on stderr.")
    boolean profile;

    BackendKind kind() {
        return BackendKind.parse(backend);
    }

    Backends.Options options() {
        if (threads < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
        return new Backends.Options(Optional.ofNullable(openblas), threads);
    }
}
