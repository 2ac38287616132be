package io.headscan.bench;

import io.headscan.compute.kernels.JavaRowReducer;
import io.headscan.compute.kernels.NativeKernels;
import io.headscan.compute.kernels.RowReducer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * The fused full-vocabulary reduction (one thread): the C kernel through FFM, the Vector API version, and plain
 * Java. {@code reduceTile}: the two-pass reduction of a 64 x 50257 tile (used for bag scores); {@code reduceBlocks}:
 * what fullvocab runs, the one-pass block reduction over the same tile, 2048 columns at a time, merged.
 * Reported per element in the results.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector"})
public class RowKernels {

    public static final int ROWS = 64, COLS = 50257;

    @Param({"native", "vector", "java"})
    public String kernel;

    Arena arena;
    MemorySegment tile;
    RowReducer reducer;
    long[] diag = new long[ROWS];
    float[] max = new float[ROWS];
    double[] sum = new double[ROWS];
    long[] gr = new long[ROWS], le = new long[ROWS];

    @Setup
    public void setUp() {
        arena = Arena.ofShared();
        tile = arena.allocate((long) ROWS * COLS * 4, 64);
        java.util.Random r = new java.util.Random(1);
        for (long i = 0; i < (long) ROWS * COLS; i++) tile.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (r.nextGaussian() * 3));
        for (int i = 0; i < ROWS; i++) {
            diag[i] = i;
            ref[i] = tile.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * COLS + i);
        }
        reducer = switch (kernel) {
            case "native" -> NativeKernels.load().orElseThrow(() -> new IllegalStateException(NativeKernels.loadError()));
            case "vector" -> new VectorRowReducer();
            default -> JavaRowReducer.INSTANCE;
        };
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    float[] ref = new float[ROWS];

    @Benchmark
    public double reduceBlocks() {
        java.util.Arrays.fill(sum, 0);
        for (int c0 = 0; c0 < COLS; c0 += 2048) reducer.reduceBlock(tile, c0, ROWS, Math.min(2048, COLS - c0), COLS, ref, sum, gr, le);
        return sum[0];
    }

    @Benchmark
    public double reduceTile() {
        reducer.reduce(tile, 0, ROWS, COLS, COLS, diag, max, sum, gr, le);
        return sum[0];
    }
}
