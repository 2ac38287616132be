package io.headscan.compute.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.*;

import io.headscan.Progress;
import io.headscan.circuits.EmbeddingTable;
import io.headscan.circuits.FullVocabQK;
import io.headscan.circuits.Variant;
import io.headscan.compute.Backend;
import io.headscan.compute.Tensor;
import io.headscan.compute.Transpose;
import io.headscan.compute.Workspace;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import io.headscan.synth.SyntheticGpt2;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GPU backend on first contact with a GPU: the device it was opened on, a kernel module the driver refuses, the
 * PTX fallback's kernels, and a fault during the kernels' own check. Skipped only where the machine has no GPU.
 */
class GpuFirstContactTest {

    @TempDir
    Path dir;

    private static void requireGpu() {
        assumeTrue(io.headscan.testing.ParityFixture.gpuPresent(), "the CUDA driver reports no GPU on this machine");
    }

    /**
     * Opened on the last device, then used from a thread that CUDA puts on another device (device 0 for a new thread; on
     * a one-GPU machine both are 0): allocations, copies and GEMMs land on the backend's device, as CUDA reports.
     */
    @Test
    void everyCallRunsOnTheDeviceTheBackendWasOpenedOn() throws Exception {
        requireGpu();
        Cuda.loadRuntime(CudaLibraries.fromEnvironment(Optional.empty()));
        int device = Cuda.deviceCount() - 1;
        try (CublasBackend gpu = CublasBackend.open(Optional.empty(), false, device)) {
            assertEquals(device, gpu.device());
            assertTrue(gpu.describe().contains("GPU " + device + " "), gpu.describe());
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Integer> seen = new ArrayList<>();
            Thread t = new Thread(() -> {
                try (Workspace ws = gpu.workspace(); Arena arena = Arena.ofConfined()) {
                    seen.add(CublasBackend.currentDevice());   // a new thread: CUDA's default device
                    Matrix ha = Matrix.allocate(arena, 3, 2), hb = Matrix.allocate(arena, 2, 4), hc = Matrix.allocate(arena, 3, 4);
                    for (int i = 0; i < 3; i++) for (int k = 0; k < 2; k++) ha.set(i, k, i + 2 * k);
                    for (int k = 0; k < 2; k++) for (int j = 0; j < 4; j++) hb.set(k, j, k - j);
                    Tensor a = ws.load(ha), b = ws.load(hb), c = ws.allocate(3, 4);
                    ws.gemm(1f, a, Transpose.NO, b, Transpose.NO, 0f, c);
                    ws.store(c, hc);
                    seen.add(CublasBackend.currentDevice());
                    seen.add(CublasBackend.deviceOf(c.memory()));
                    seen.add(CublasBackend.deviceOf(a.memory()));
                    for (int i = 0; i < 3; i++) for (int j = 0; j < 4; j++) {
                        assertEquals(i * (0 - j) + (i + 2) * (1 - j), hc.get(i, j), 0f, "C[" + i + ", " + j + "]");
                    }
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            t.start();
            t.join(TimeUnit.MINUTES.toMillis(2));
            if (failure.get() != null) throw new AssertionError(failure.get());
            assertEquals(List.of(0, device, device, device), seen, "[new thread's device, current after the calls, C's device, A's device]");
        }
    }

    /**
     * A module the driver refuses disables the kernel paths and says why; cuBLAS still computes, and the full-vocabulary
     * statistics still come out (tiles reduced on the host), equal to OpenBLAS's.
     */
    @Test
    void aKernelModuleThatDoesNotLoadLeavesCublasWorking() throws Exception {
        requireGpu();
        new SyntheticGpt2(new Dims(1000, 64, 2, 2, 128, 16), 5, List.of(new HeadId(1, 1))).write(dir.resolve("m"), 2);
        byte[] garbage = "this is not a CUDA module".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        try (CublasBackend gpu = CublasBackend.open(Optional.empty(), false, 0, new ReduceKernel.Image(garbage, "damaged test image"));
             Model m = Model.open(dir.resolve("m")); Backend cpu = OpenBlasBackend.open(Optional.empty(), 2);
             EmbeddingTable table = EmbeddingTable.obtain(m, Variant.FULL, cpu, dir.resolve("cache"), Progress.NONE, s -> { });
             FullVocabQK onGpu = new FullVocabQK(m, gpu, table.matrix()); FullVocabQK onCpu = new FullVocabQK(m, cpu, table.matrix())) {
            assertTrue(gpu.describe().contains("unavailable (cuModuleLoadData (headscan_reduce, damaged test image) failed"), gpu.describe());
            assertFalse(gpu.fusedReductionAvailable());
            assertFalse(gpu.factoredReductionAvailable());
            assertTrue(gpu.reductionPath().startsWith("host (the CUDA kernels did not load"), gpu.reductionPath());
            try (Workspace ws = gpu.workspace()) {
                assertTrue(ws.onHost(), "without the row kernels the workspace is host memory (GEMMs still on the GPU)");
            }
            for (HeadId h : List.of(new HeadId(1, 1), new HeadId(0, 0))) {
                FullVocabQK.HeadStats g = onGpu.head(h, Progress.NONE), c = onCpu.head(h, Progress.NONE);
                assertEquals(c.meanDiagProb(), g.meanDiagProb(), 1e-5 * c.meanDiagProb(), h + " mean_diag_prob");
                assertEquals(c.ranks().fracRank0(), g.ranks().fracRank0(), 2.0 / 1000, h + " frac_rank0");
            }
            assertTrue(onGpu.kernel().contains("host (the CUDA kernels did not load"), onGpu.kernel());
        }
    }

    /**
     * The build's Turing PTX, which a GPU without machine code in the fat binary would run: its TF32 kernel is empty
     * there, and the check catches that (the outputs start as a pattern no kernel writes) instead of passing on stale
     * memory; its FP32 kernels are real. The fat binary's compute_80 PTX, compiled by the driver for this GPU as it
     * would be for a GPU newer than the build knows, carries a TF32 kernel that passes.
     */
    @Test
    void thePtxFallbacksCarryRealKernelsOrAreCaught() throws Exception {
        requireGpu();
        String turing = FatBinary.buildPtx();
        assertNotNull(turing, "this build has no PTX");
        try (CublasBackend gpu = CublasBackend.open(Optional.empty(), true, 0, ReduceKernel.Image.ptx(turing))) {
            assertEquals("", gpu.fusedCheck(), gpu.describe());
            String tf32 = gpu.fusedTf32Check();
            assertTrue(tf32.startsWith("row 0: "), "an empty TF32 kernel must fail its check: '" + tf32 + "'");
        }
        String ampere = FatBinary.ptx(FatBinary.bytes()).get("sm_80");
        assertNotNull(ampere, "the fat binary has compute_80 PTX");
        try (CublasBackend gpu = CublasBackend.open(Optional.empty(), true, 0, ReduceKernel.Image.ptx(ampere))) {
            assertEquals("", gpu.fusedCheck(), gpu.describe());
            assertEquals("", gpu.fusedTf32Check(), gpu.describe());
        }
    }

    /**
     * A fault inside the kernels' check poisons the process's CUDA context: the backend refuses to open with a
     * {@link GpuFaultException} (never "use the tiles" on that context), and {@code auto} then computes on the CPU and
     * says why. In a child JVM, so that the poisoned context is not this test run's.
     */
    @Test
    void aFaultDuringTheKernelCheckIsFatalForTheGpu() throws Exception {
        requireGpu();
        String out = probe(dir.resolve("probe.log"));
        assertTrue(out.contains("FAULT GPU 0 faulted while checking the fused kernel: cudaError"), out);
        assertTrue(out.contains("AUTO openblas: ") && out.contains("cublas skipped: "), out);
    }

    /**
     * A fault in the middle of a sweep (the full-vocabulary kernel traps once V exceeds the check's): the sweep stops
     * with the backend's fault instead of recording it against this checkpoint and every one after it, and the store
     * holds nothing of the checkpoint in hand, and no error row blaming the file.
     */
    @Test
    void aFaultDuringASweepStopsItAndBlamesNoFile() throws Exception {
        requireGpu();
        String out = probe(dir.resolve("sweep-probe.log"), "sweep", dir.resolve("sweep").toString());
        assertTrue(out.contains("PATH fused (FP32"), "the trapping kernel passed the check at open: " + out);
        assertTrue(out.contains("SWEEP-FAULT GPU 0 faulted: cudaError") && out.contains("the sweep stops here"), out);
        assertFalse(out.contains("FAILED "), out);
        assertTrue(out.contains("STORED 0 0"), out);
    }

    /** FaultProbe in a child JVM (a fault poisons its process's CUDA context); its output, after exit 0. */
    private String probe(Path log, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), FaultProbe.class.getName()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(3, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            fail("the probe hung: " + Files.readString(log));
        }
        String out = Files.readString(log);
        assertEquals(0, p.exitValue(), out);
        return out;
    }
}
