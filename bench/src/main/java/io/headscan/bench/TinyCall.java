package io.headscan.bench;

import io.headscan.bindings.cblas.cblas_h;
import io.headscan.compute.openblas.OpenBlasLibrary;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas;
import org.openjdk.jmh.annotations.*;

/**
 * Per-call overhead of a native call: cblas_sdot with n = 1 (almost no work) and a 1x1x1 sgemm,
 * through FFM (jextract bindings, no argument checks) and JNI (bytedeco).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class TinyCall {

    @Param({"ffm", "jni"})
    public String binding;

    Arena arena;
    MemorySegment a, b, c;
    FloatPointer pa, pb, pc;

    @Setup
    public void setUp() {
        if (binding.equals("ffm")) {
            OpenBlasLibrary.load(Optional.empty());
            arena = Arena.ofShared();
            a = arena.allocate(4);
            b = arena.allocate(4);
            c = arena.allocate(4);
        } else {
            pa = new FloatPointer(1);
            pb = new FloatPointer(1);
            pc = new FloatPointer(1);
        }
    }

    @TearDown
    public void tearDown() {
        if (arena != null) arena.close();
    }

    @Benchmark
    public float sdot1() {
        return binding.equals("ffm") ? cblas_h.cblas_sdot(1, a, 1, b, 1) : openblas.cblas_sdot(1, pa, 1, pb, 1);
    }

    @Benchmark
    public void sgemm1x1x1() {
        if (binding.equals("ffm")) {
            cblas_h.cblas_sgemm(cblas_h.CblasRowMajor(), cblas_h.CblasNoTrans(), cblas_h.CblasNoTrans(), 1, 1, 1, 1f, a, 1, b, 1, 0f, c, 1);
        } else {
            openblas.cblas_sgemm(openblas.CblasRowMajor, openblas.CblasNoTrans, openblas.CblasNoTrans, 1, 1, 1, 1f, pa, 1, pb, 1, 0f, pc, 1);
        }
    }
}
