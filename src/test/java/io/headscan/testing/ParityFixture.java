package io.headscan.testing;

import io.headscan.compute.Backend;
import io.headscan.compute.JavaBackend;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.reference.ReferenceScience;
import io.headscan.synth.SyntheticGpt2;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** A synthetic checkpoint opened for parity tests, its double-precision reference, and every CPU backend. */
public record ParityFixture(Model model, ReferenceScience ref, List<Backend> backends) implements AutoCloseable {

    /**
     * Whether this machine has an NVIDIA GPU device. Where it has one, cuBLAS joins every parity test and any failure to
     * load it fails them: GPU tests are skipped only where there is no GPU, never to hide a load error.
     */
    public static boolean gpuPresent() {
        return GPU;
    }

    /**
     * From the CUDA driver's device count, whatever the device numbers (a scheduler or container may expose one GPU as
     * /dev/nvidia3). A driver that fails where NVIDIA device nodes exist counts as a GPU too, so that its failure shows
     * in the GPU tests instead of skipping them.
     */
    private static final boolean GPU = probeGpu();

    private static boolean probeGpu() {
        try {
            if (io.headscan.compute.cuda.Cuda.driverDeviceCount() > 0) return true;
        } catch (RuntimeException | LinkageError e) {
            // a broken driver: decided by the device nodes below
        }
        try (var s = java.nio.file.Files.list(Path.of("/dev"))) {
            return s.anyMatch(p -> p.getFileName().toString().matches("nvidia[0-9]+|dxg"));
        } catch (java.io.IOException e) {
            return false;
        }
    }

    /** The backends every parity test runs on: OpenBLAS, pure Java, and cuBLAS where there is a GPU. */
    public static List<String> backendNames() {
        return gpuPresent() ? List.of("openblas", "java", "cublas") : List.of("openblas", "java");
    }

    public static ParityFixture synth(Path dir, Dims dims, long seed, List<HeadId> planted) throws IOException {
        new SyntheticGpt2(dims, seed, planted).write(dir, 2);
        Model model = Model.open(dir);
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
