package io.headscan.compute;

import io.headscan.compute.cuda.CublasBackend;
import io.headscan.compute.openblas.OpenBlasBackend;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Chooses a backend. {@code auto} takes the fastest one that works here (cuBLAS on a GPU, else OpenBLAS, else Java) and explains, in one line,
 * what it chose and why anything faster was skipped (the path tried and the loader's error): silent
 * slow fallbacks are what users of BLAS wrappers complain about most.
 */
public final class Backends {

    private Backends() {}

    /**
     * Options that every backend understands: an OpenBLAS library, the CPU thread count, a folder holding the CUDA
     * libraries, and whether cuBLAS may use TF32 tensor cores.
     */
    public record Options(Optional<Path> openblasLibrary, int threads, Optional<Path> cudaLibraries, boolean tf32) {
        public Options(Optional<Path> openblasLibrary, int threads) {
            this(openblasLibrary, threads, Optional.empty(), false);
        }

        public static Options defaults() {
            return new Options(Optional.empty(), 0);
        }
    }

    /** The chosen backend and a one-line account of the choice. */
    public record Selection(Backend backend, String explanation) {}

    private static String tf32Note(Options options) {
        return options.tf32() ? " (--tf32 has no effect on a CPU backend)" : "";
    }

    public static Selection open(BackendKind kind, Options options) {
        return switch (kind) {
            case JAVA -> {
                Backend b = new JavaBackend(options.threads());
                yield new Selection(b, "backend: java (requested): " + b.describe());
            }
            case CUBLAS -> {
                Backend b = CublasBackend.open(options.cudaLibraries(), options.tf32());
                yield new Selection(b, "backend: cublas (requested): " + b.describe());
            }
            case OPENBLAS -> {
                Backend b = OpenBlasBackend.open(options.openblasLibrary(), options.threads());
                yield new Selection(b, "backend: openblas (requested): " + b.describe() + tf32Note(options));
            }
            case AUTO -> {
                List<String> skipped = new ArrayList<>();
                if (!"0".equals(System.getenv("HEADSCAN_GPU"))) {
                    try {
                        Backend b = CublasBackend.open(options.cudaLibraries(), options.tf32());
                        yield new Selection(b, "backend: cublas (auto: GPU found): " + b.describe());
                    } catch (BackendException | LinkageError e) {
                        skipped.add("cublas skipped: " + e.getMessage());
                    }
                } else {
                    skipped.add("cublas skipped: HEADSCAN_GPU=0");
                }
                try {
                    Backend b = OpenBlasBackend.open(options.openblasLibrary(), options.threads());
                    yield new Selection(b, "backend: openblas (auto; " + String.join("; ", skipped) + "): " + b.describe() + tf32Note(options));
                } catch (BackendException | LinkageError e) {
                    skipped.add("openblas skipped: " + e.getMessage());
                }
                Backend b = new JavaBackend(options.threads());
                yield new Selection(b, "backend: java (auto; " + String.join("; ", skipped) + ")" + tf32Note(options));
            }
        };
    }
}
