package io.headscan.testing;

import io.headscan.compute.Backend;
import io.headscan.compute.JavaBackend;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.model.Gpt2Dims;
import io.headscan.model.Gpt2Model;
import io.headscan.model.HeadId;
import io.headscan.reference.ReferenceScience;
import io.headscan.synth.SyntheticGpt2;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** A synthetic checkpoint opened for parity tests, its double-precision reference, and every CPU backend. */
public record ParityFixture(Gpt2Model model, ReferenceScience ref, List<Backend> backends) implements AutoCloseable {

    public static ParityFixture synth(Path dir, Gpt2Dims dims, long seed, List<HeadId> planted) throws IOException {
        new SyntheticGpt2(dims, seed, planted).write(dir, 2);
        Gpt2Model model = Gpt2Model.open(dir);
        return new ParityFixture(model, new ReferenceScience(model), List.of(OpenBlasBackend.open(Optional.empty(), 2), new JavaBackend(2)));
    }

    public Backend backend(String name) {
        return backends.stream().filter(b -> b.name().equals(name)).findFirst().orElseThrow();
    }

    @Override
    public void close() {
        model.close();
    }
}
