package io.headscan.bench;

import io.headscan.compute.JavaBackend;
import io.headscan.compute.Transpose;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/** headscan's pure-Java backend at the projection shape (the larger shapes take minutes per call). */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1, time = 3)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class JavaSgemm {

    JavaBackend java;
    Arena arena;
    MemorySegment a, b, c;

    @Setup
    public void setUp() {
        java = new JavaBackend(0);
        arena = Arena.ofShared();
        a = SgemmInterop.fill(arena.allocate(1024L * 768 * 4, 64));
        b = SgemmInterop.fill(arena.allocate(768L * 768 * 4, 64));
        c = arena.allocate(1024L * 768 * 4, 64);
    }

    @TearDown
    public void tearDown() {
        arena.close();
        java.close();
    }

    @Benchmark
    public void projection1024x768x768() {
        java.sgemm(Transpose.NO, Transpose.NO, 1024, 768, 768, 1f, a, 0, 768, b, 0, 768, 0f, c, 0, 768);
    }
}
