package io.headscan.compute.openblas;

import static io.headscan.bindings.cblas.cblas_h.*;

import io.headscan.compute.AbstractBackend;
import io.headscan.compute.Transpose;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Optional;

/**
 * OpenBLAS through the committed jextract bindings (FFM downcalls). Operands are passed as
 * slices of their segments (mapped weights included): no copies, no alignment requirement.
 */
public final class OpenBlasBackend extends AbstractBackend {

    private final OpenBlasLibrary.Loaded library;

    private OpenBlasBackend(OpenBlasLibrary.Loaded library) {
        this.library = library;
    }

    /** Loads OpenBLAS (see {@link OpenBlasLibrary#load}) and sets the thread count (≤ 0: leave OpenBLAS's default). */
    public static OpenBlasBackend open(Optional<Path> explicitLibrary, int threads) {
        OpenBlasBackend b = new OpenBlasBackend(OpenBlasLibrary.load(explicitLibrary));
        if (threads > 0) b.setThreads(threads);
        return b;
    }

    public OpenBlasLibrary.Loaded library() {
        return library;
    }

    @Override
    public String name() {
        return "openblas";
    }

    @Override
    public String describe() {
        return "OpenBLAS " + library.version() + " (" + library.coreName() + " kernels, " + threads() + " thread"
                + (threads() == 1 ? "" : "s") + ", " + parallelModel() + ") from " + library.path() + " [" + library.origin() + "]";
    }

    /** OpenBLAS's threading model: sequential, pthreads or OpenMP. */
    public String parallelModel() {
        return switch (openblas_get_parallel()) {
            case 0 -> "sequential";
            case 1 -> "pthreads";
            case 2 -> "OpenMP";
            default -> "unknown threading";
        };
    }

    @Override
    public int threads() {
        return openblas_get_num_threads();
    }

    @Override
    public void setThreads(int threads) {
        openblas_set_num_threads(threads <= 0 ? Runtime.getRuntime().availableProcessors() : threads);
    }

    @Override
    protected void sgemmChecked(Transpose transA, Transpose transB, int m, int n, int k,
                                float alpha, MemorySegment a, long aOffset, int lda,
                                MemorySegment b, long bOffset, int ldb,
                                float beta, MemorySegment c, long cOffset, int ldc) {
        cblas_sgemm(CblasRowMajor(), op(transA), op(transB), m, n, k,
                alpha, a.asSlice(aOffset * Float.BYTES), lda,
                b.asSlice(bOffset * Float.BYTES), ldb,
                beta, c.asSlice(cOffset * Float.BYTES), ldc);
    }

    // cblas_sgemm_batch_strided is deliberately not used: in OpenBLAS 0.3.31 (bundled, DYNAMIC_ARCH,
    // OPENBLAS_CORETYPE=Haswell) it jumped to a null kernel pointer (SIGSEGV) on a 5 x 7x7x6 batch in
    // BackendParityTest. The inherited loop of sgemm calls is used instead.

    private static int op(Transpose t) {
        return t.on() ? CblasTrans() : CblasNoTrans();
    }

    @Override
    public void close() {
        // The library stays loaded for the life of the process.
    }
}
