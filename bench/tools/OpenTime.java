import io.headscan.format.MappedCheckpoint;
import io.headscan.format.TensorInfo;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Opening a checkpoint (ZIP directory or header, pickle, tensor table; no tensor data read) in process: the first
 * open, then the median of 30 more, the heap it allocates, and whether the F32 tensors are views of the mapping.
 * Usage: java -cp target/headscan.jar bench/tools/OpenTime.java FILE...
 */
public class OpenTime {
    public static void main(String[] args) {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        for (String a : args) {
            Path p = Path.of(a);
            long t0 = System.nanoTime(), h0 = threads.getCurrentThreadAllocatedBytes();
            long first, heap;
            boolean views = true;
            int tensors;
            try (MappedCheckpoint c = MappedCheckpoint.open(p)) {
                first = System.nanoTime() - t0;
                heap = threads.getCurrentThreadAllocatedBytes() - h0;
                tensors = c.tensors().size();
                for (TensorInfo t : c.tensors()) if (t.dtype().name().equals("F32") && t.byteSize() > 0) views &= c.segment(t).isMapped();
            }
            long[] times = new long[30];
            for (int i = 0; i < times.length; i++) {
                long s = System.nanoTime();
                try (MappedCheckpoint c = MappedCheckpoint.open(p)) {
                    c.tensors();
                }
                times[i] = System.nanoTime() - s;
            }
            Arrays.sort(times);
            System.out.printf("open %s: %d tensors, first %.1f ms (%d KB of heap), median of 30 %.2f ms, F32 tensors views of the mapping: %s%n",
                    p.getFileName(), tensors, first / 1e6, heap >> 10, times[15] / 1e6, views);
        }
    }
}
