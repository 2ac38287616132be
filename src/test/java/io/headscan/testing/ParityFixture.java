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

    /**
     * Whether this machine has an NVIDIA GPU device. Where it has one, cuBLAS joins every parity test and any failure to
     * load it fails them: GPU tests are skipped only where there is no GPU, never to hide a load error.
     */
    public static boolean gpuPresent() {
        return java.nio.file.Files.exists(Path.of("/dev/nvidia0")) || java.nio.file.Files.exists(Path.of("/dev/dxg"));
    }

    /** The backends every parity test runs on: OpenBLAS, pure Java, and cuBLAS where there is a GPU. */
    public static List<String> backendNames() {
        return gpuPresent() ? List.of("openblas", "java", "cublas") : List.of("openblas", "java");
    }

    public static ParityFixture synth(Path dir, Gpt2Dims dims, long seed, List<HeadId> planted) throws IOException {
        new SyntheticGpt2(dims, seed, planted).write(dir, 2);
        Gpt2Model model = Gpt2Model.open(dir);
        List<Backend> backends = new java.util.ArrayList<>(List.of(OpenBlasBackend.open(Optional.empty(), 2), new JavaBackend(2)));
        if (gpuPresent()) backends.add(io.headscan.compute.cuda.CublasBackend.open(Optional.empty(), false));
        return new ParityFixture(model, new ReferenceScience(model), backends);
    }

    public Backend backend(String name) {
        return backends.stream().filter(b -> b.name().equals(name)).findFirst().orElseThrow();
    }

    @Override
    public void close() {
        backends.forEach(Backend::close);
        model.close();
    }
}
