package io.headscan.compute.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.*;

import io.headscan.compute.BackendException;
import io.headscan.compute.BackendKind;
import io.headscan.compute.Backends;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * On a machine without an NVIDIA GPU or driver (like the CI machine, which has the CUDA 13 runtime in
 * /usr/local/cuda but no driver): {@code auto} falls back to OpenBLAS and says why in one line, and asking for
 * cuBLAS fails with a clear message. Nothing is mocked: the real libcudart answers.
 */
class GpuFallbackTest {

    static boolean gpuHere() {
        return io.headscan.testing.ParityFixture.gpuPresent();
    }

    @Test
    void autoFallsBackToOpenBlasWithTheReason() {
        assumeFalse(gpuHere(), "this machine has a GPU: GpuParityTest covers it");
        Backends.Selection s = Backends.open(BackendKind.AUTO, Backends.Options.defaults());
        try (var b = s.backend()) {
            assertEquals("openblas", b.name());
            assertTrue(s.explanation().startsWith("backend: openblas (auto; cublas skipped: "), s.explanation());
            assertFalse(s.explanation().contains("\n"));
            if (Files.exists(Path.of("/usr/local/cuda/lib64/libcudart.so.13"))) {
                // the runtime loads, and its own words for "no driver" reach the user
                assertTrue(s.explanation().contains("cudaGetDeviceCount returned cudaErrorInsufficientDriver (error 35)"), s.explanation());
            }
        }
    }

    @Test
    void autoKeepsSmallWorkloadsOnTheCpuWithoutProbingTheGpu() {
        Backends.Selection s = Backends.open(BackendKind.AUTO, Backends.Options.defaults(), Backends.Workload.SMALL);
        try (var b = s.backend()) {
            assertEquals("openblas", b.name(), "on any machine, GPU or not");
            assertTrue(s.brief().startsWith("backend: openblas (auto: small products run on the CPU"), s.brief());
            assertFalse(s.explanation().contains("cublas"), "the GPU is not even asked: " + s.explanation());
            assertEquals(0, b.transfers().toDevice() + b.transfers().toHost(), "a CPU backend moves nothing");
        }
    }

    @Test
    void askingForCublasWithoutAGpuIsAClearError() {
        assumeFalse(gpuHere(), "this machine has a GPU");
        BackendException e = assertThrows(BackendException.class, () -> CublasBackend.open(Optional.empty(), false));
        assertTrue(e.getMessage().startsWith("no usable GPU") || e.getMessage().startsWith("CUDA runtime not found"), e.getMessage());
    }

    @Test
    void aFolderWithoutTheRuntimeIsNamed() {
        BackendException e = assertThrows(BackendException.class, () -> CublasBackend.open(Optional.of(Path.of("/nonexistent/cuda")), false));
        assertTrue(e.getMessage().contains("/nonexistent/cuda"), e.getMessage());
    }
}
