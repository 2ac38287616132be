package io.headscan.format;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.model.Model;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Each hostile checkpoint of {@link HostileCheckpoints}, opened in-process as every command opens a model: a named
 * {@link CheckpointFormatException} of the right container that names the file (the child-JVM acceptance is
 * io.headscan.cli.HostileFilesCliTest).
 */
class HostileCheckpointsTest {

    @TempDir
    static Path dir;
    static List<HostileCheckpoints.Case> cases;

    @BeforeAll
    static void write() throws Exception {
        cases = HostileCheckpoints.write(dir);
    }

    static List<HostileCheckpoints.Case> cases() throws Exception {
        if (cases == null) write();
        // the file whose header exceeds a small heap reads in this test JVM's larger one: HostileFilesCliTest covers it
        return cases.stream().filter(c -> !c.phrase().equals("refused:")).toList();
    }

    @ParameterizedTest
    @MethodSource("cases")
    void isRefusedWithANamedErrorOfItsContainer(HostileCheckpoints.Case c) {
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> Model.open(c.model()).close());
        assertTrue(e.getMessage().startsWith(c.model().toString()), "names the file: " + e.getMessage());
        assertTrue(e.getMessage().contains(c.phrase()), "'" + c.phrase() + "' in: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        String file = e.file().getFileName().toString();
        CheckpointFormatException.Container expected = file.equals("config.json") ? CheckpointFormatException.Container.CONFIG_JSON
                : file.endsWith(".index.json") ? CheckpointFormatException.Container.SHARD_INDEX
                : c.phrase().startsWith("location") ? CheckpointFormatException.Container.PICKLE
                : file.endsWith(".bin") ? CheckpointFormatException.Container.PYTORCH_ZIP : CheckpointFormatException.Container.SAFETENSORS;
        assertEquals(expected, e.container(), e.getMessage());
    }
}
