package io.headscan.tokenize;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Properties;

/**
 * Loads the Hugging Face tokenizers library (Rust, through DJL's JNI binding {@code ai.djl.huggingface:tokenizers}) from
 * the copy inside the jar, without a network: its {@code native/lib/linux-x86_64/cpu/libtokenizers.so} is unpacked once
 * into headscan's cache ({@code <cache>/native/tokenizers-VERSION-linux-x86_64/}, atomically, like OpenBLAS) and handed
 * to DJL as {@code RUST_LIBRARY_PATH}, so that DJL neither unpacks it into {@code ~/.djl.ai} nor looks for a CUDA
 * build to download (which it does, from its own server, when it sees a recent NVIDIA GPU). {@code ai.djl.offline} is
 * set too (unless the user set it), so that any other DJL download is refused rather than tried. A user's own
 * {@code RUST_LIBRARY_PATH} environment variable wins, as DJL reads it first.
 *
 * <p>DJL logs through SLF4J, which headscan does not bind: {@code slf4j.internal.verbosity} is set to ERROR (unless set)
 * so that SLF4J's "no providers" notice does not reach stderr. Only this class and {@link HfTokenizer} name DJL's classes,
 * and only the first use of a tokenizer.json that is not GPT-2's loads them.
 */
final class HfNative {

    static final String RESOURCE_DIR = "native/lib/linux-x86_64/cpu/";
    static final String LIBRARY = "libtokenizers.so";
    static final String ENV = "RUST_LIBRARY_PATH";

    private static boolean loaded;
    private static TokenizerException failure;

    private HfNative() {}

    /** Loads the library once; a failure is one {@link TokenizerException}, the same one on every later call. */
    static synchronized void load() {
        if (loaded) return;
        if (failure != null) throw failure;
        try {
            String own = System.getenv(ENV);
            Path lib = own != null && !own.isBlank() ? Path.of(own) : unpack();
            if (own == null || own.isBlank()) System.setProperty(ENV, lib.toString());
            if (System.getProperty("ai.djl.offline") == null && System.getenv("DJL_OFFLINE") == null) System.setProperty("ai.djl.offline", "true");
            if (System.getProperty("slf4j.internal.verbosity") == null) System.setProperty("slf4j.internal.verbosity", "ERROR");
            try {
                ai.djl.huggingface.tokenizers.jni.LibUtils.checkStatus();
            } catch (RuntimeException e) {
                throw new TokenizerException(lib, "cannot load the Hugging Face tokenizers library: " + innermost(e)
                        + (own != null && !own.isBlank() ? " (from " + ENV + ")" : ""), e);
            } catch (NoClassDefFoundError e) {
                throw new TokenizerException(null, "reading a tokenizer.json needs DJL's ai.djl.huggingface:tokenizers on the class path "
                        + "(headscan.jar holds it; an application embedding headscan must add it): " + e.getMessage(), e);
            } catch (LinkageError e) {
                throw new TokenizerException(lib, "cannot load the Hugging Face tokenizers library: " + innermost(e), e);
            }
            loaded = true;
        } catch (TokenizerException e) {
            failure = e;
            throw e;
        }
    }

    private static String innermost(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) c = c.getCause();
        return c.getMessage() != null ? c.getMessage() : c.toString();
    }

    /** The version of the bundled library ({@code native/lib/tokenizers.properties}: Rust crate and DJL versions). */
    static String bundledVersion(ClassLoader cl) {
        try (InputStream in = cl.getResourceAsStream("native/lib/tokenizers.properties")) {
            if (in == null) return null;
            Properties p = new Properties();
            p.load(in);
            String v = p.getProperty("version");
            return v == null || !v.matches("[0-9A-Za-z.+-]{1,64}") ? null : v;
        } catch (IOException e) {
            return null;
        }
    }

    /** Unpacks the bundled library once (temporary folder, then a rename) and returns its path. */
    static Path unpack() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new TokenizerException(null, "the bundled Hugging Face tokenizers library is for linux-x86_64, this is " + os + "/" + arch
                    + "; point " + ENV + " at a libtokenizers built for it (DJL's ai.djl.huggingface:tokenizers)");
        }
        ClassLoader cl = HfNative.class.getClassLoader();
        String version = bundledVersion(cl);
        if (version == null || cl.getResource(RESOURCE_DIR + LIBRARY) == null) {
            throw new TokenizerException(null, "the Hugging Face tokenizers library (" + RESOURCE_DIR + LIBRARY + " of DJL's "
                    + "ai.djl.huggingface:tokenizers) is not on the class path; rebuild headscan.jar, or point " + ENV + " at a libtokenizers.so");
        }
        Path dir = io.headscan.CacheFolder.root().resolve("native").resolve("tokenizers-" + version + "-linux-x86_64");
        try {
            return io.headscan.AtomicFiles.unpackOnce(dir, cl, RESOURCE_DIR, java.util.List.of(LIBRARY), version).resolve(LIBRARY);
        } catch (IOException e) {
            throw new TokenizerException(dir, "cannot unpack the bundled Hugging Face tokenizers library: " + e.getMessage(), e);
        }
    }
}
