package io.headscan.cli;

import io.headscan.compute.BackendException;
import io.headscan.compute.JavaBackend;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.compute.openblas.OpenBlasLibrary;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "backends", mixinStandardHelpOptions = true,
        header = "List the compute backends and whether each works here.",
        description = "For each backend: whether it works, its library, version, core type and threads, and which row kernels (C or Java) run.")
final class BackendsCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--openblas", paramLabel = "PATH", description = "Check this OpenBLAS library instead of the bundled one.")
    Path openblas;

    @Option(names = "--cuda-lib", paramLabel = "DIR", description = "Look for the CUDA libraries in this folder only (also: HEADSCAN_CUDA_LIB).")
    Path cudaLib;

    @Option(names = "--threads", paramLabel = "N", description = "Thread count to set before reporting, 1 to the number of cores (default: all cores).")
    Integer threads;

    @Override
    public Integer call() {
        var out = spec.commandLine().getOut();
        int threads = BackendOptions.threadCount(this.threads, "--threads");
        out.println("openblas  " + openblasLine(threads));
        try (JavaBackend j = new JavaBackend(threads)) {
            out.println("java      works: " + j.describe());
        }
        out.println("cublas    " + cublasLine());
        out.println("kernels   " + io.headscan.compute.kernels.RowReducer.describeChoice());
        out.println("libc      " + io.headscan.Posix.unavailable().map(w -> "not linked: " + w + " (no huge-page buffers, no download locks)")
                .orElse("linked: mmap/madvise (huge-page buffers" + ("0".equals(System.getenv("HEADSCAN_HUGEPAGES")) ? " off: HEADSCAN_HUGEPAGES=0" : "")
                        + "), flock (download locks), setenv (OpenBLAS thread timeout)"));
        String core = System.getenv("OPENBLAS_CORETYPE");
        out.println("env       OPENBLAS_CORETYPE=" + (core == null ? "(unset)" : core)
                + ", OPENBLAS_NUM_THREADS=" + Optional.ofNullable(System.getenv("OPENBLAS_NUM_THREADS")).orElse("(unset)")
                + ", cores=" + Runtime.getRuntime().availableProcessors());
        out.flush();
        return 0;
    }

    private String cublasLine() {
        var libs = io.headscan.compute.cuda.CudaLibraries.fromEnvironment(Optional.ofNullable(cudaLib));
        String found = "\n          runtime " + libs.find(io.headscan.compute.cuda.CudaLibraries.CUDART).map(Path::toString).orElse("not found")
                + "\n          cuBLAS  " + libs.find(io.headscan.compute.cuda.CudaLibraries.CUBLAS).map(Path::toString).orElse("not found")
                + "\n          driver  " + libs.find(io.headscan.compute.cuda.CudaLibraries.DRIVER).map(Path::toString).orElse("not found");
        try (var b = io.headscan.compute.cuda.CublasBackend.open(Optional.ofNullable(cudaLib), false)) {
            return "works: " + b.describe() + found;
        } catch (BackendException | LinkageError e) {
            return "not available: " + e.getMessage() + found;
        }
    }

    private String openblasLine(int threads) {
        try {
            OpenBlasBackend b = OpenBlasBackend.open(Optional.ofNullable(openblas), threads);
            OpenBlasLibrary.Loaded l = b.library();
            return "works: OpenBLAS " + l.version() + ", core " + l.coreName() + ", " + b.threads() + " threads (" + b.parallelModel() + ")"
                    + "\n          library " + l.path() + " [" + l.origin() + "]"
                    + "\n          config  " + l.config()
                    + "\n          sgemm_batch_strided " + (l.batchStrided() ? "exported (not used: crashed in 0.3.31)" : "not exported");
        } catch (BackendException | LinkageError e) {
            return "not available: " + e.getMessage();
        }
    }
}
