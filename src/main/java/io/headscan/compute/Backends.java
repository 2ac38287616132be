package io.headscan.compute;

import io.headscan.compute.openblas.OpenBlasBackend;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Chooses a backend. {@code auto} takes the fastest one that works here and explains, in one line,
 * what it chose and why anything faster was skipped (the path tried and the loader's error): silent
 * slow fallbacks are what users of BLAS wrappers complain about most.
 */
public final class Backends {

    private Backends() {}

    /** Options that every backend understands. */
    public record Options(Optional<Path> openblasLibrary, int threads) {
        public static Options defaults() {
            return new Options(Optional.empty(), 0);
        }
    }

    /** The chosen backend and a one-line account of the choice. */
    public record Selection(Backend backend, String explanation) {}

    public static Selection open(BackendKind kind, Options options) {
        return switch (kind) {
            case JAVA -> {
                Backend b = new JavaBackend(options.threads());
                yield new Selection(b, "backend: java (requested): " + b.describe());
            }
            case OPENBLAS -> {
                Backend b = OpenBlasBackend.open(options.openblasLibrary(), options.threads());
                yield new Selection(b, "backend: openblas (requested): " + b.describe());
            }
            case AUTO -> {
                List<String> skipped = new ArrayList<>();
                try {
                    Backend b = OpenBlasBackend.open(options.openblasLibrary(), options.threads());
                    yield new Selection(b, "backend: openblas (auto: fastest available): " + b.describe());
                } catch (BackendException | LinkageError e) {
                    skipped.add("openblas skipped: " + e.getMessage());
                }
                Backend b = new JavaBackend(options.threads());
                yield new Selection(b, "backend: java (auto; " + String.join("; ", skipped) + ")");
            }
        };
    }
}
