package io.headscan.testing;

import io.headscan.format.SafetensorsFile;
import io.headscan.format.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Writes one float into a tensor of a real safetensors file on disk (NaN, Inf...), as a damaged checkpoint would hold it. */
public final class Corrupt {

    private Corrupt() {}

    /** Element {@code row, col} of a 2-D F32 tensor (or element {@code col} of a vector, with row 0). */
    public static void set(Path file, String tensor, long row, long col, float value) throws IOException {
        long at;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            TensorInfo t = f.info(tensor);
            long cols = t.shape()[t.shape().length - 1];
            at = f.dataStart() + t.begin() + (row * cols + col) * 4;
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, value), at);
        }
    }
}
