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

    /**
     * The chosen backend and a one-line account of the choice: {@code explanation} whole (library paths, every loader
     * error), {@code brief} short enough for every command's stderr.
     */
    public record Selection(Backend backend, String explanation, String brief) {
        Selection(Backend backend, String how, List<String> skipped, String note) {
            this(backend, "backend: " + backend.name() + " (" + how + (skipped.isEmpty() ? "" : "; " + String.join("; ", skipped)) + "): "
                    + backend.describe() + note,
                    "backend: " + backend.name() + " (" + how + (skipped.isEmpty() ? "" : "; " + String.join("; ", skipped.stream().map(Backends::firstClause).toList()))
                            + "): " + firstClause(backend.describe().split(" from ")[0]) + note);
        }
    }

    /** "no usable GPU: cudaGetDeviceCount returned ..." → "no usable GPU". */
    static String firstClause(String s) {
        int colon = s.indexOf(": ", s.indexOf("skipped: ") < 0 ? 0 : s.indexOf("skipped: ") + 9);
        String t = colon < 0 ? s : s.substring(0, colon);
        return t.length() <= 90 ? t : t.substring(0, 87) + "...";
    }

    private static String tf32Note(Options options) {
        return options.tf32() ? " (--tf32 has no effect on a CPU backend)" : "";
    }

    /** What a command asks of a backend, for {@code auto}'s choice. */
    public enum Workload {
        /**
         * A few small GEMMs (score's bags): done on the CPU in less time than a GPU takes to start (on an H200 host:
         * the whole CPU score 0.98 s, cuBLAS's start-up alone 0.26–0.47 s and the command 1.4 s), so auto prefers OpenBLAS.
         */
        SMALL,
        /** Full-vocabulary products (embed, fullvocab, ov): the GPU wins by far when there is one. */
        LARGE
    }

    public static Selection open(BackendKind kind, Options options) {
        return open(kind, options, Workload.LARGE);
    }

    /** As {@link #open(BackendKind, Options)}; {@code auto} weighs the workload: small ones stay on the CPU when OpenBLAS works. */
    public static Selection open(BackendKind kind, Options options, Workload workload) {
        if (kind == BackendKind.AUTO && workload == Workload.SMALL) {
            try {
                return new Selection(OpenBlasBackend.open(options.openblasLibrary(), options.threads()),
                        "auto: small products run on the CPU before a GPU would be ready", List.of(), tf32Note(options));
            } catch (BackendException | LinkageError e) {
                // no OpenBLAS: the usual order (GPU, then Java), with this reason kept
                Selection s = open(kind, options, Workload.LARGE);
                return new Selection(s.backend(), s.explanation() + "; openblas skipped: " + e.getMessage(), s.brief() + "; openblas skipped: "
                        + firstClause(e.getMessage()));
            }
        }
        return switch (kind) {
            case JAVA -> new Selection(new JavaBackend(options.threads()), "requested", List.of(), "");
            case CUBLAS -> {
                Backend b;
                try {
                    b = CublasBackend.open(options.cudaLibraries(), options.tf32());
                } catch (BackendException | LinkageError e) {
                    throw new BackendException("--backend cublas: " + e.getMessage() + " (--backend auto or openblas runs on the CPU)", e);
                }
                yield new Selection(b, "requested", List.of(), "");
            }
            case OPENBLAS -> new Selection(OpenBlasBackend.open(options.openblasLibrary(), options.threads()), "requested", List.of(), tf32Note(options));
            case AUTO -> {
                List<String> skipped = new ArrayList<>();
                if (!"0".equals(System.getenv("HEADSCAN_GPU"))) {
                    try {
                        yield new Selection(CublasBackend.open(options.cudaLibraries(), options.tf32()), "auto: GPU found", List.of(), "");
                    } catch (BackendException | LinkageError e) {
                        skipped.add("cublas skipped: " + e.getMessage());
                    }
                } else {
                    skipped.add("cublas skipped: HEADSCAN_GPU=0");
                }
                try {
                    yield new Selection(OpenBlasBackend.open(options.openblasLibrary(), options.threads()), "auto", skipped, tf32Note(options));
                } catch (BackendException | LinkageError e) {
                    skipped.add("openblas skipped: " + e.getMessage());
                }
                yield new Selection(new JavaBackend(options.threads()), "auto", skipped, tf32Note(options));
            }
        };
    }
}
