package io.headscan.bench;

import io.headscan.compute.Transpose;
import io.headscan.compute.openblas.OpenBlasBackend;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas;
import org.openjdk.jmh.annotations.*;

/**
 * sgemm through FFM (headscan's jextract bindings) vs JNI (bytedeco's binding of the same OpenBLAS 0.3.31
 * binary) vs headscan's pure-Java backend, at the shapes headscan runs: projections (1024x768x768),
 * a full-vocabulary score tile (256x50257x64), the factor GEMM (4096x64x768 rows of a [V, d] x [d, d_h]),
 * and 2048^3 as the local peak. Each parameter set runs in its own fork, so only one binding is loaded.
 * Threads: OPENBLAS_NUM_THREADS / all cores, the same for FFM and JNI.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class SgemmInterop {

    @Param({"ffm", "jni"})
    public String binding;

    /** m x n x k, transB: "1024x768x768", "256x50257x64T", "4096x64x768", "2048x2048x2048" */
    @Param({"1024x768x768", "256x50257x64T", "4096x64x768", "2048x2048x2048"})
    public String shape;

    int m, n, k;
    boolean transB;
    Arena arena;
    MemorySegment a, b, c;
    FloatPointer pa, pb, pc;
    OpenBlasBackend ffm;

    @Setup
    public void setUp() {
        String s = shape.endsWith("T") ? shape.substring(0, shape.length() - 1) : shape;
        transB = shape.endsWith("T");
        String[] p = s.split("x");
        m = Integer.parseInt(p[0]);
        n = Integer.parseInt(p[1]);
        k = Integer.parseInt(p[2]);
        if (binding.equals("ffm")) {
            ffm = OpenBlasBackend.open(Optional.empty(), 0);
            arena = Arena.ofShared();
            a = fill(arena.allocate((long) m * k * 4, 64));
            b = fill(arena.allocate((long) k * n * 4, 64));
            c = arena.allocate((long) m * n * 4, 64);
        } else {
            pa = new FloatPointer((long) m * k);
            pb = new FloatPointer((long) k * n);
            pc = new FloatPointer((long) m * n);
            for (long i = 0; i < (long) m * k; i++) pa.put(i, (i % 7) * 0.01f);
            for (long i = 0; i < (long) k * n; i++) pb.put(i, (i % 5) * 0.01f);
        }
    }

    static MemorySegment fill(MemorySegment s) {
        for (long i = 0; i < s.byteSize() / 4; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i % 7) * 0.01f);
        return s;
    }

    @TearDown
    public void tearDown() {
        if (arena != null) arena.close();
        if (pa != null) {
            pa.close();
            pb.close();
            pc.close();
        }
    }

    @Benchmark
    public void sgemm() {
        if (binding.equals("ffm")) {
            ffm.sgemm(Transpose.NO, transB ? Transpose.YES : Transpose.NO, m, n, k, 1f, a, 0, k, b, 0, transB ? k : n, 0f, c, 0, n);
        } else {
            openblas.cblas_sgemm(openblas.CblasRowMajor, openblas.CblasNoTrans, transB ? openblas.CblasTrans : openblas.CblasNoTrans,
                    m, n, k, 1f, pa, k, pb, transB ? k : n, 0f, pc, n);
        }
    }

    /** FLOPs of one call, for GFLOP/s in the report. */
    public static double flops(String shape) {
        String[] p = shape.replace("T", "").split("x");
        return 2.0 * Double.parseDouble(p[0]) * Double.parseDouble(p[1]) * Double.parseDouble(p[2]);
    }
}
