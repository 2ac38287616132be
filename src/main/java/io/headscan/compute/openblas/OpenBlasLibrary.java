package io.headscan.compute.openblas;

import io.headscan.bindings.cblas.cblas_h;
import io.headscan.compute.BackendException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Finds, loads and checks the OpenBLAS shared library behind the jextract bindings.
 *
 * <p>By default the library comes from the {@code org.bytedeco:openblas:0.3.31-1.5.13:linux-x86_64}
 * artifact on the class path (natives only, no JNI glue), unpacked once into a per-user cache folder
 * keyed by that version. An explicit path ({@code --openblas PATH} or {@value #ENV_PATH}) selects any
 * other build, such as Debian's {@code libopenblas0-pthread}. The bindings resolve symbols through the
 * loader lookup, so whichever library is {@code System.load}ed here is the one they call. Every required
 * symbol is touched right after loading, so a missing one is reported now rather than mid-run.
 * A process can hold only one OpenBLAS.
 */
public final class OpenBlasLibrary {

    public static final String BUNDLED_VERSION = "0.3.31-1.5.13";
    public static final String ENV_PATH = "HEADSCAN_OPENBLAS";
    private static final String RESOURCE_DIR = "org/bytedeco/openblas/linux-x86_64/";
    /** Load order: dependencies first (libopenblas has RUNPATH $ORIGIN, but loading them explicitly is robust). */
    private static final List<String> BUNDLED_FILES = List.of("libquadmath.so.0", "libgfortran.so.5", "libgcc_s.so.1", "libopenblas.so.0");
    private static final List<String> LOAD_ORDER = List.of("libquadmath.so.0", "libgfortran.so.5", "libopenblas.so.0");

    /** A loaded library: where it came from and what it says about itself. */
    public record Loaded(Path path, String origin, String config, String coreName, boolean batchStrided) {

        /** "0.3.31" from a config string such as "OpenBLAS 0.3.31 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64". */
        public String version() {
            String[] parts = config.trim().split("\\s+");
            return parts.length > 1 && parts[0].equals("OpenBLAS") ? parts[1] : "unknown";
        }
    }

    private static Loaded loaded;

    private OpenBlasLibrary() {}

    /** Loads OpenBLAS: the explicit path if given, else {@value #ENV_PATH}, else the bundled copy. */
    public static synchronized Loaded load(Optional<Path> explicit) {
        Optional<Path> requested = explicit.or(() -> Optional.ofNullable(System.getenv(ENV_PATH)).filter(s -> !s.isBlank()).map(Path::of));
        if (loaded != null) {
            if (requested.isPresent() && !requested.get().toAbsolutePath().normalize().equals(loaded.path())) {
                throw new BackendException("OpenBLAS is already loaded from " + loaded.path() + " in this process; cannot also load " + requested.get());
            }
            return loaded;
        }
        Path lib;
        String origin;
        shortenThreadTimeout();
        if (requested.isPresent()) {
            lib = requested.get().toAbsolutePath().normalize();
            origin = explicit.isPresent() ? "--openblas" : ENV_PATH;
            if (!Files.isRegularFile(lib)) throw new BackendException("OpenBLAS library " + lib + " (from " + origin + ") does not exist");
            loadOrThrow(lib);
        } else {
            Path dir = unpackBundled();
            for (String f : LOAD_ORDER) loadOrThrow(dir.resolve(f));
            lib = dir.resolve("libopenblas.so.0");
            origin = "bundled org.bytedeco:openblas:" + BUNDLED_VERSION;
        }
        resolveRequiredSymbols(lib);
        boolean batch = SymbolLookup.loaderLookup().find("cblas_sgemm_batch_strided").isPresent();
        String config = cString(cblas_h::openblas_get_config);
        String core = cString(cblas_h::openblas_get_corename);
        loaded = new Loaded(lib, origin, config.trim(), core.trim(), batch);
        return loaded;
    }

    /**
     * OpenBLAS worker threads spin for 2^28 cycles after each call before sleeping; headscan alternates GEMMs
     * with its own multi-threaded reductions, which those spinning threads would starve (measured: the fused
     * reduction took 1.7x longer). Unless the user set it, OPENBLAS_THREAD_TIMEOUT=4 (2^4 cycles) is put in
     * this process's environment with setenv(3) before the library initialises and reads it.
     */
    private static void shortenThreadTimeout() {
        if (System.getenv("OPENBLAS_THREAD_TIMEOUT") != null || System.getenv("GOTO_THREAD_TIMEOUT") != null) return;
        if (io.headscan.Posix.unavailable().isPresent()) return;   // only a performance setting
        io.headscan.Posix.setenv("OPENBLAS_THREAD_TIMEOUT", "4", false);
    }

    /** The library loaded in this process, if any. */
    public static synchronized Optional<Loaded> current() {
        return Optional.ofNullable(loaded);
    }

    private static String cString(Supplier<MemorySegment> f) {
        MemorySegment p = f.get();
        if (p.equals(MemorySegment.NULL)) return "";
        return p.reinterpret(4096).getString(0);
    }

    private static void loadOrThrow(Path lib) {
        // a file that is not ELF is refused before the dynamic loader sees it (which would also upset the JVM's stack guard)
        try (var in = java.nio.file.Files.newInputStream(lib)) {
            byte[] magic = in.readNBytes(4);
            if (magic.length < 4 || magic[0] != 0x7f || magic[1] != 'E' || magic[2] != 'L' || magic[3] != 'F') {
                throw new BackendException("cannot load " + lib + ": not a shared library (no ELF header)");
            }
        } catch (java.nio.file.NoSuchFileException e) {
            throw new BackendException("cannot load " + lib + ": no such file");
        } catch (java.io.IOException e) {
            throw new BackendException("cannot load " + lib + ": " + e.getMessage(), e);
        }
        try {
            System.load(lib.toString());
        } catch (UnsatisfiedLinkError e) {
            throw new BackendException("cannot load " + lib + ": " + e.getMessage(), e);
        }
    }

    private static void resolveRequiredSymbols(Path lib) {
        record Sym(String name, Supplier<MemorySegment> address) {}
        List<Sym> required = List.of(
                new Sym("cblas_sgemm", cblas_h::cblas_sgemm$address),
                new Sym("cblas_sdot", cblas_h::cblas_sdot$address),
                new Sym("openblas_set_num_threads", cblas_h::openblas_set_num_threads$address),
                new Sym("openblas_get_num_threads", cblas_h::openblas_get_num_threads$address),
                new Sym("openblas_get_config", cblas_h::openblas_get_config$address),
                new Sym("openblas_get_corename", cblas_h::openblas_get_corename$address),
                new Sym("openblas_get_parallel", cblas_h::openblas_get_parallel$address));
        for (Sym s : required) {
            if (SymbolLookup.loaderLookup().find(s.name()).isEmpty()) {
                throw new BackendException(lib + " does not export " + s.name() + " (is it OpenBLAS?)");
            }
            try {
                s.address().get();
            } catch (Throwable t) {
                throw new BackendException("cannot bind " + s.name() + " in " + lib + ": " + t, t);
            }
        }
    }

    /** The per-user folder natives are unpacked into (see {@link io.headscan.CacheFolder}). */
    public static Path cacheRoot() {
        return io.headscan.CacheFolder.root();
    }

    /** Unpacks the bundled natives once, atomically (temp folder + rename), and returns the folder. */
    static Path unpackBundled() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new BackendException("the bundled OpenBLAS is for linux-x86_64, this is " + os + "/" + arch
                    + "; point " + ENV_PATH + " (or --openblas) at an OpenBLAS shared library");
        }
        ClassLoader cl = OpenBlasLibrary.class.getClassLoader();
        if (cl.getResource(RESOURCE_DIR + "libopenblas.so.0") == null) {
            throw new BackendException("the bundled OpenBLAS (" + RESOURCE_DIR + "libopenblas.so.0) is not on the class path; point "
                    + ENV_PATH + " at an OpenBLAS shared library");
        }
        Path dir = cacheRoot().resolve("native").resolve("openblas-" + BUNDLED_VERSION + "-linux-x86_64");
        try {
            return io.headscan.AtomicFiles.unpackOnce(dir, cl, RESOURCE_DIR, BUNDLED_FILES, BUNDLED_VERSION);
        } catch (IOException e) {
            throw new BackendException("cannot unpack the bundled OpenBLAS into " + dir + ": " + e.getMessage(), e);
        }
    }

}
