package io.headscan.spark;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.compute.BackendException;
import io.headscan.format.SafetensorsException;
import io.headscan.format.SafetensorsFile;
import io.headscan.model.ModelException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which failures of an opened checkpoint the executor throws for Spark to retry (the task's) and which it records
 * (the file's): the rule behind {@link ExecutorTask#tasksFault}, on the exceptions the real code throws.
 */
class ExecutorFailureKindsTest {

    @TempDir
    Path dir;

    @Test
    void aDamagedOrMissingFileIsTheCheckpointsAndAFailedReadOrBackendIsTheTasks() throws Exception {
        Path bad = dir.resolve("bad.safetensors");
        Files.write(bad, new byte[] {1, 2, 3});
        SafetensorsException damaged = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(bad));
        assertFalse(ExecutorTask.tasksFault(damaged), "a damaged file fails the same way everywhere: " + damaged.getMessage());
        SafetensorsException missing = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(dir.resolve("none.safetensors")));
        assertFalse(ExecutorTask.tasksFault(missing), missing.getMessage());
        Path fifo = dir.resolve("fifo.safetensors");
        new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor();
        assertFalse(ExecutorTask.tasksFault(assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(fifo))), "a FIFO is the file's");

        // the storage failing under a read (EIO, a stale NFS handle) may not fail on another executor
        assertTrue(ExecutorTask.tasksFault(new SafetensorsException(SafetensorsException.Kind.IO, bad, null, "read failed", new IOException("Input/output error"))));
        assertFalse(ExecutorTask.tasksFault(new SafetensorsException(SafetensorsException.Kind.IO, bad, null, "no such file", new NoSuchFileException(bad.toString()))));
        assertTrue(ExecutorTask.tasksFault(new BackendException("cudaMemcpy failed: cudaErrorMemoryAllocation")), "a backend's failure");
        assertTrue(ExecutorTask.tasksFault(new OutOfMemoryError("Java heap space")), "the executor's heap while computing");
        assertTrue(ExecutorTask.tasksFault(new NullPointerException()), "headscan's own bug");
        assertFalse(ExecutorTask.tasksFault(new ModelException(bad, "no head 11.10 in a 3-layer model")), "the model's");
        assertFalse(ExecutorTask.tasksFault(new IllegalArgumentException("--fullvocab 11.10: no such head")), "the analysis does not fit it");
        assertFalse(ExecutorTask.tasksFault(null));
    }
}
