package io.headscan.bench;

import io.headscan.format.SafetensorsFile;
import io.headscan.format.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * Opening a checkpoint: headscan's mmap (validate + map + touch one float per 4 KiB page of wte) vs reading
 * wte into a heap float[] with a FileChannel (what a loader without mmap does). File: -Dheadscan.bench.model
 * (bench/run passes a GPT-2-Small-size synthetic checkpoint); the page cache is warm in both cases.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
public class MappedOpen {

    Path file = Path.of(System.getProperty("headscan.bench.model", "/tmp/headscan-bench/m/model.safetensors"));

    @Benchmark
    public double mmapOpenAndTouch() {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            var seg = f.segment("wte.weight");
            double s = 0;
            for (long i = 0; i < seg.byteSize() / 4; i += 1024) s += seg.getAtIndex(SafetensorsFile.F32_LE, i);
            return s;
        }
    }

    @Benchmark
    public double readIntoHeap() throws IOException {
        TensorInfo t;
        long start;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            t = f.info("wte.weight");
            start = f.dataStart() + t.begin();
        }
        float[] out = new float[(int) t.elementCount()];
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
            long pos = start;
            int k = 0;
            while (k < out.length) {
                buf.clear();
                int want = (int) Math.min(buf.capacity(), (long) (out.length - k) * 4);
                buf.limit(want);
                while (buf.hasRemaining()) pos += ch.read(buf, pos);
                buf.flip();
                buf.asFloatBuffer().get(out, k, want / 4);
                k += want / 4;
            }
        }
        return out[out.length - 1];
    }
}
