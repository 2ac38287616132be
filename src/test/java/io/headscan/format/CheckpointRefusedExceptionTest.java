package io.headscan.format;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** A JVM limit hit while a file is opened becomes a named refusal of that file, not advice about the heap. */
class CheckpointRefusedExceptionTest {

    private static int depth(int n) {
        return n + depth(n + 1);   // no end: the stack runs out
    }

    @Test
    void aStackOverflowWhileOpeningRefusesTheFile() {
        Path f = Path.of("/data/m/model.safetensors.index.json");
        CheckpointRefusedException e = assertThrows(CheckpointRefusedException.class,
                () -> CheckpointRefusedException.whileOpening(f, CheckpointFormatException.Container.SHARD_INDEX, () -> depth(0)));
        assertEquals(f + ": refused: reading its shard index structure overflowed the thread stack: the file is damaged or hostile", e.getMessage());
        assertEquals(CheckpointFormatException.Container.SHARD_INDEX, e.container());
        assertEquals(f, e.file());
        assertInstanceOf(StackOverflowError.class, e.getCause());
    }

    @Test
    void runningOutOfHeapWhileOpeningRefusesTheFileWithoutHeapAdvice() {
        Path f = Path.of("/data/m/pytorch_model.bin");
        CheckpointRefusedException e = assertThrows(CheckpointRefusedException.class,
                () -> CheckpointRefusedException.whileOpening(f, CheckpointFormatException.Container.PYTORCH_ZIP, () -> new long[Integer.MAX_VALUE - 8]));
        assertTrue(e.getMessage().startsWith(f + ": refused: reading its PyTorch zip structure needed more than the whole Java heap"), e.getMessage());
        assertFalse(e.getMessage().contains("raise"), e.getMessage());
    }
}
