package io.headscan.compute.cuda;

import io.headscan.compute.BackendKind;
import io.headscan.compute.Backends;
import java.util.Optional;

/**
 * Run in a child JVM by GpuFirstContactTest (a fault poisons the CUDA context of its whole process): opens cuBLAS with
 * a kernel module whose fused kernels fault, then asks for {@code --backend auto}'s choice in the same process.
 * Prints "FAULT message" and "AUTO name: explanation"; exit 0 when both ran, 2 when the backend opened anyway.
 */
public final class FaultProbe {

    /** Kernels that write to address 0 and then trap: an illegal address (or a trap), sticky in CUDA. */
    static final String FAULTING_PTX = """
            .version 7.0
            .target sm_75
            .address_size 64

            .visible .entry hs_reduce_tile()
            {
            \tret;
            }

            .visible .entry hs_fused_diag()
            {
            \t.reg .b64 %rd<2>;
            \t.reg .b32 %r<2>;
            \tmov.u64 %rd1, 0;
            \tmov.u32 %r1, 1;
            \tst.global.u32 [%rd1], %r1;
            \ttrap;
            }

            .visible .entry hs_fused_rows()
            {
            \ttrap;
            }
            """;

    public static void main(String[] args) {
        try (CublasBackend b = CublasBackend.open(Optional.empty(), false, 0, ReduceKernel.Image.ptx(FAULTING_PTX))) {
            System.out.println("OPENED " + b.reductionPath());
            System.exit(2);
        } catch (GpuFaultException e) {
            System.out.println("FAULT " + e.getMessage());
        }
        Backends.Selection s = Backends.open(BackendKind.AUTO, Backends.Options.defaults());
        System.out.println("AUTO " + s.backend().name() + ": " + s.explanation());
        s.backend().close();
    }
}
