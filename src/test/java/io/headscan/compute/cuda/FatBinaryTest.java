package io.headscan.compute.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.*;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * What the build puts in the jar for GPUs it has no machine code for: a GPU newer than Hopper runs the fat binary's
 * PTX, so that PTX must carry the real TF32 tensor-core kernel (compute_80 or newer), not the empty body that the
 * Turing PTX has. Runs on any machine whose build had nvcc (no GPU needed); skipped where native/cuda/build.sh found
 * none (it says so in build-info.txt), since such a build has no kernels at all.
 */
class FatBinaryTest {

    private static void requireNvccBuild() throws java.io.IOException {
        try (var in = FatBinaryTest.class.getClassLoader().getResourceAsStream("io/headscan/native/cuda/build-info.txt")) {
            assertNotNull(in, "native/cuda/build.sh did not run in this build (no build-info.txt)");
            String info = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII).strip();
            assumeFalse(info.equals("nvcc=none"), "this build had no nvcc, so it has no CUDA kernels to check");
        }
    }

    @Test
    void theFatBinaryCarriesTensorCorePtxForNewerGpus() throws Exception {
        requireNvccBuild();
        byte[] fat = FatBinary.bytes();
        assertNotNull(fat, "the build made no fat binary (" + ReduceKernel.FATBIN + "): nvcc is on this machine, so native/cuda/build.sh failed");
        Map<String, String> ptx = FatBinary.ptx(fat);
        assertTrue(ptx.containsKey("sm_80"), "PTX targets in the fat binary: " + ptx.keySet());
        String tf32 = FatBinary.entry(ptx.get("sm_80"), "hs_fused_rows_tf32");
        assertNotNull(tf32, "hs_fused_rows_tf32 in the compute_80 PTX");
        assertTrue(tf32.contains("mma.sync") && tf32.contains("tf32"), "the compute_80 PTX's TF32 kernel has tensor-core instructions");
        for (String k : new String[] {"hs_reduce_tile", "hs_fused_diag", "hs_fused_rows", "hs_fold_rows", "hs_rows_affine_dev", "hs_bias_gelu_dev"}) {
            assertNotNull(FatBinary.entry(ptx.get("sm_80"), k), k + " in the compute_80 PTX");
        }
    }

    /** The oldest PTX (Turing, no TF32 tensor cores) has an empty TF32 body: the kernel's self-check must catch it there. */
    @Test
    void theTuringPtxHasNoTensorCoreKernel() throws Exception {
        requireNvccBuild();
        String ptx = FatBinary.buildPtx();
        assertNotNull(ptx, "the build made no PTX");
        String tf32 = FatBinary.entry(ptx, "hs_fused_rows_tf32");
        assertNotNull(tf32);
        assertFalse(tf32.contains("mma"), "compute_75 has no TF32 mma: GpuFirstContactTest relies on this empty body");
    }
}
