package io.headscan.compute.cuda;

import io.headscan.compute.BackendException;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Where the CUDA runtime, cuBLAS and the driver live on a machine. In order: an explicit folder ({@code --cuda-lib},
 * {@code HEADSCAN_CUDA_LIB}); {@code $CUDA_HOME}, {@code $CUDA_PATH} and {@code /usr/local/cuda} ({@code lib64},
 * {@code targets/x86_64-linux/lib}); the dynamic loader's path ({@code LD_LIBRARY_PATH}, the usual system folders);
 * then Python environments' {@code site-packages/nvidia/<package>/lib} folders, where PyTorch's and the
 * {@code nvidia-*} wheels put them ({@code $VIRTUAL_ENV}, {@code $CONDA_PREFIX}, {@code ~/.local}, system Pythons).
 */
public final class CudaLibraries {

    /** File names tried for each library, newest first (the bindings were generated from CUDA 13 headers). */
    public static final List<String> CUDART = List.of("libcudart.so.13", "libcudart.so.12", "libcudart.so");
    public static final List<String> CUBLAS = List.of("libcublas.so.13", "libcublas.so.12", "libcublas.so");
    public static final List<String> CUBLAS_LT = List.of("libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so");
    public static final List<String> DRIVER = List.of("libcuda.so.1", "libcuda.so");

    private final Optional<Path> explicit;
    private final Map<String, String> env;
    private final Path home;
    private final Path root;

    public CudaLibraries(Optional<Path> explicit, Map<String, String> env, Path home) {
        this(explicit, env, home, Path.of("/"));
    }

    /** @param root where the system folders (/usr/local/cuda, /usr/lib, ...) are: "/", or a test's own tree */
    public CudaLibraries(Optional<Path> explicit, Map<String, String> env, Path home, Path root) {
        this.explicit = explicit;
        this.env = env;
        this.home = home;
        this.root = root;
    }

    private Path system(String absolute) {
        return root.resolve(absolute.substring(1));
    }

    /** From this process's environment; {@code explicit} (a folder) wins, else HEADSCAN_CUDA_LIB. */
    public static CudaLibraries fromEnvironment(Optional<Path> explicit) {
        Optional<Path> dir = explicit.or(() -> Optional.ofNullable(System.getenv("HEADSCAN_CUDA_LIB")).filter(s -> !s.isBlank()).map(Path::of));
        return new CudaLibraries(dir, System.getenv(), io.headscan.CacheFolder.home(System.getenv()));
    }

    /** The folder given with --cuda-lib or HEADSCAN_CUDA_LIB, if any. */
    public Optional<Path> explicitFolder() {
        return explicit;
    }

    /** The folders searched, in order (those that do not exist included: the error lists what was tried). */
    public List<Path> folders() {
        Set<Path> out = new LinkedHashSet<>();
        if (explicit.isPresent()) {
            out.add(explicit.get());
            return new ArrayList<>(out);
        }
        for (String var : List.of("CUDA_HOME", "CUDA_PATH")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) {
                out.add(Path.of(v, "lib64"));
                out.add(Path.of(v, "targets", "x86_64-linux", "lib"));
                out.add(Path.of(v, "lib"));
            }
        }
        out.add(system("/usr/local/cuda/lib64"));
        out.add(system("/usr/local/cuda/targets/x86_64-linux/lib"));
        String ld = env.get("LD_LIBRARY_PATH");
        if (ld != null) for (String p : ld.split(":")) if (!p.isBlank()) out.add(Path.of(p));
        for (String p : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu", "/usr/lib/wsl/lib")) out.add(system(p));
        for (Path sitePackages : sitePackages()) {
            Path nvidia = sitePackages.resolve("nvidia");
            if (!Files.isDirectory(nvidia)) continue;
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(nvidia)) {
                List<Path> pkgs = new ArrayList<>();
                for (Path p : ds) if (Files.isDirectory(p.resolve("lib"))) pkgs.add(p.resolve("lib"));
                pkgs.sort(null);
                out.addAll(pkgs);
            } catch (IOException ignored) {
                // unreadable: skipped
            }
        }
        return new ArrayList<>(out);
    }

    private List<Path> sitePackages() {
        List<Path> roots = new ArrayList<>();
        for (String var : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) roots.add(Path.of(v, "lib"));
        }
        roots.add(home.resolve(".local/lib"));
        roots.add(system("/usr/local/lib"));
        roots.add(system("/usr/lib"));
        roots.add(system("/opt/conda/lib"));
        List<Path> out = new ArrayList<>();
        for (Path r : roots) {
            if (!Files.isDirectory(r)) continue;
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(r, "python3*")) {
                List<Path> pys = new ArrayList<>();
                for (Path py : ds) pys.add(py);
                pys.sort(null);
                for (Path py : pys) {
                    out.add(py.resolve("site-packages"));
                    out.add(py.resolve("dist-packages"));
                }
            } catch (IOException ignored) {
                // unreadable: skipped
            }
        }
        return out;
    }

    /** The first existing file among {@code names} in the folders, in folder order. */
    public Optional<Path> find(List<String> names) {
        for (Path dir : folders()) {
            for (String n : names) {
                Path p = dir.resolve(n);
                if (Files.isRegularFile(p)) return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** As {@link #find}, or a {@link BackendException} naming what was looked for and where. */
    public Path require(String what, List<String> names) {
        return find(names).orElseThrow(() -> new BackendException(what + " not found (looked for " + names.get(0) + " in "
                + (explicit.isPresent() ? explicit.get() + " (--cuda-lib / HEADSCAN_CUDA_LIB)"
                        : "$CUDA_HOME, /usr/local/cuda, the loader path and Python environments' nvidia/*/lib folders")
                + "); point --cuda-lib or HEADSCAN_CUDA_LIB at the folder holding it"));
    }
}
