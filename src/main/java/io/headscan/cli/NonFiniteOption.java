package io.headscan.cli;

import io.headscan.circuits.NonFinite;
import io.headscan.circuits.Variant;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.ModelException;
import java.io.PrintWriter;
import java.util.Set;
import picocli.CommandLine.Option;

/** --allow-nonfinite, and the check every science command makes before computing. */
final class NonFiniteOption {

    @Option(names = "--allow-nonfinite",
            description = "Compute even when the weights hold NaN or Inf: the heads they reach are marked, ranked last, left out of "
                    + "the centring and written as null in JSON (default: refuse, naming the tensors and heads).")
    boolean allow;

    /**
     * The heads that non-finite weights reach (empty when every weight read is finite). Refuses by default with one line
     * naming the tensors, their counts and the heads; with --allow-nonfinite, warns on {@code err} and returns them.
     */
    Set<HeadId> check(Model m, NonFinite.Circuit circuit, Variant variant, PrintWriter err) {
        NonFinite.Report r = NonFinite.check(m, circuit, variant);
        if (r.clean()) return Set.of();
        if (!allow) {
            throw new ModelException(m.path(), r.describe(m.dims()) + " (pass --allow-nonfinite to compute anyway, with those heads marked)");
        }
        err.println("warning: " + r.describe(m.dims()) + "; computing anyway (--allow-nonfinite): those heads are marked");
        err.flush();
        return r.heads();
    }
}
