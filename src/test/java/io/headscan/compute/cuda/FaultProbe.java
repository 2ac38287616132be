package io.headscan.compute.cuda;

import io.headscan.compute.BackendKind;
import io.headscan.compute.Backends;
import java.util.Optional;

/**
 * Run in a child JVM by GpuFirstContactTest (a fault poisons the CUDA context of its whole process): opens cuBLAS with
 * a kernel module whose fused kernels fault, then asks for {@code --backend auto}'s choice in the same process.
 * Prints "FAULT message" and "AUTO name: explanation"; exit 0 when both ran, 2 when the backend opened anyway. With
 * arguments {@code sweep DIR}: see {@link #sweep}.
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

    /**
     * The build's own kernels, except that hs_fused_rows traps when V exceeds {@code v}: the kernels' check at open (V =
     * 517) passes, and the fault comes in the middle of real work, as a GPU's would.
     */
    static String trapAbove(String ptx, long v) {
        int entry = ptx.indexOf(".visible .entry hs_fused_rows(");
        int open = ptx.indexOf("{\n", entry) + 2;
        String[] body = ptx.substring(open).split("\n", -1);
        int at = open;
        for (String line : body) {   // after the body's declarations
            String t = line.strip();
            if (!(t.isEmpty() || t.startsWith(".reg") || t.startsWith(".shared") || t.startsWith(".local") || t.startsWith("//"))) break;
            at += line.length() + 1;
        }
        String trap = "\t.reg .pred %pfault;\n\t.reg .b64 %rdfault;\n\tld.param.u64 %rdfault, [hs_fused_rows_param_4];\n"
                + "\tsetp.gt.s64 %pfault, %rdfault, " + v + ";\n\t@%pfault trap;\n";
        return ptx.substring(0, at) + trap + ptx.substring(at);
    }

    /**
     * A sweep of three checkpoints (V = 2000) whose full-vocabulary kernel faults: prints "SWEEP-FAULT message" when the
     * sweep stops with the backend's fault, then what the store holds ("STORED models errors").
     */
    static void sweep(java.nio.file.Path dir) throws Exception {
        java.util.List<io.headscan.sweep.Checkpoint> cs = new java.util.ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            java.nio.file.Path m = dir.resolve("checkpoint-" + i);
            new io.headscan.synth.SyntheticGpt2(new io.headscan.model.Dims(2000, 64, 2, 4, 128, 16), i, java.util.List.of()).write(m, 2);
        }
        cs.addAll(io.headscan.sweep.Checkpoints.expand(java.util.List.of(dir + "/checkpoint-*"), Optional.empty(), Optional.empty()));
        var analyses = new io.headscan.sweep.Analyses(false, java.util.List.of(io.headscan.circuits.Variant.FULL), java.util.List.of(0L), 16, 2, false,
                false, false, "1.1", null, io.headscan.circuits.Variant.FULL);
        try (CublasBackend b = CublasBackend.open(Optional.empty(), false, 0, ReduceKernel.Image.ptx(trapAbove(FatBinary.buildPtx(), 1000)));
             io.headscan.sweep.DuckDbSink sink = io.headscan.sweep.DuckDbSink.open(dir.resolve("store.duckdb"))) {
            System.out.println("PATH " + b.reductionPath());
            sink.begin("probe", "probe", b.describe(), "probe");
            io.headscan.sweep.Sweep.Listener quiet = new io.headscan.sweep.Sweep.Listener() {
                @Override
                public void done(io.headscan.sweep.Checkpoint c, io.headscan.sweep.ModelInfo info, boolean skipped, java.util.List<io.headscan.model.HeadId> top,
                                 double fetch, double compute) {
                    System.out.println("DONE " + c.label());
                }

                @Override
                public void failed(io.headscan.sweep.Checkpoint c, String message) {
                    System.out.println("FAILED " + c.label() + ": " + message);
                }
            };
            try {
                new io.headscan.sweep.Sweep(b, analyses, sink, c -> io.headscan.sweep.Sweep.Fetched.local(java.nio.file.Path.of(c.spec())), quiet, false)
                        .run(cs, io.headscan.Progress.NONE);
                System.out.println("SWEEP-ENDED");
            } catch (io.headscan.sweep.Sweep.BackendFault e) {
                System.out.println("SWEEP-FAULT " + e.getMessage());
            }
            try (var st = sink.connection().createStatement();
                 var rs = st.executeQuery("SELECT (SELECT count(*) FROM models), (SELECT count(*) FROM errors)")) {
                rs.next();
                System.out.println("STORED " + rs.getLong(1) + " " + rs.getLong(2));
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("sweep")) {
            sweep(java.nio.file.Path.of(args[1]));
            return;
        }
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
