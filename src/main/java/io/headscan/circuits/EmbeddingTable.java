package io.headscan.circuits;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.format.DType;
import io.headscan.format.SafetensorsException;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.SafetensorsWriter;
import io.headscan.format.TensorInfo;
import io.headscan.model.Model;
import io.headscan.model.Matrix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The full-vocabulary effective embedding W_EE [V, d] (docs/science.md §2) as a safetensors file
 * (tensor {@code W_EE}, F32) whose metadata names the variant and the source checkpoint's SHA-256,
 * and carries a CRC32C of the data. Full-vocabulary commands reuse it from the cache
 * ({@code <cache>/wee/<sha256>-<variant>.safetensors}); a cache file whose metadata does not match, or
 * whose data fails its checksum, is reported, deleted and recomputed — never trusted.
 */
public final class EmbeddingTable implements AutoCloseable {

    public static final String TENSOR = "W_EE";
    /** Bumped whenever the definition or the file layout changes, so older caches are recomputed. */
    public static final String FORMAT = "headscan-wee-2";

    /**
     * What W_EE depends on besides the weights: the family's block and the config values it reads (the head count,
     * which says which rows of a fused projection are V; the activation, the norm epsilon, a parallel block). A
     * config-only change (same weights, another flag) is another cache entry.
     */
    private static String shortHash(String text) {
        try {
            byte[] h = java.security.MessageDigest.getInstance("SHA-256").digest(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return java.util.HexFormat.of().formatHex(h, 0, 4);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("no SHA-256 in this JVM", e);
        }
    }

    static String modelDefinition(Model model) {
        return model.family().modelType() + "; " + model.dims().heads() + " heads; " + model.activation().configName() + "; eps "
                + model.eps() + "; " + (model.parallel() ? "parallel" : "sequential") + " block";
    }

    private final SafetensorsFile file;
    private final Matrix wee;
    private final boolean fromCache;
    /** A table computed outside the cache (the cache was not writable): its folder, removed on close. */
    private Path scratch;

    private EmbeddingTable(SafetensorsFile file, boolean fromCache) {
        this.file = file;
        TensorInfo t = file.info(TENSOR);
        this.wee = Matrix.dense(file.segment(t), (int) t.dim(0), (int) t.dim(1));
        this.fromCache = fromCache;
    }

    public Matrix matrix() {
        return wee;
    }

    public Path path() {
        return file.path();
    }

    public boolean fromCache() {
        return fromCache;
    }

    public Map<String, String> metadata() {
        return file.metadata();
    }

    /** Computes W_EE for the whole vocabulary and writes it (atomically) to {@code out}. */
    /** GEMM milliseconds and GFLOP of the last {@link #write} in this process (for --profile). */
    public static volatile double[] lastGemm = {0, 0};

    public static void write(Model model, String sourceSha256, Variant variant, Backend backend, Path out, Progress progress)
            throws IOException {
        int v = model.dims().vocab(), d = model.dims().dModel();
        EffectiveEmbedding ee = new EffectiveEmbedding(model, backend, variant);
        SafetensorsWriter w = new SafetensorsWriter()
                .metadata("format", "pt")
                .metadata("headscan.format", FORMAT)
                .metadata("headscan.variant", variant.id())
                .metadata("headscan.definition", variant.definition())
                .metadata("headscan.source_sha256", sourceSha256)
                .metadata("headscan.model", modelDefinition(model))
                .metadata("headscan.source_file", model.path().toString())
                .dataChecksum("headscan.data_crc32c");
        progress.start("W_EE " + variant.id(), v, "tokens");
        w.add(TENSOR, DType.F32, new long[] {v, d}, seg -> ee.computeAll(Matrix.dense(seg, v, d), progress));
        w.write(out);
        progress.done();
        lastGemm = new double[] {ee.gemmMs(), ee.gemmGflop()};
    }

    /**
     * Opens a W_EE file and checks it against the expected source and variant (and, when {@code fromCache}, its data
     * against the CRC32C in its metadata: a file written moments ago by this process is not read back a second
     * time); null with a reason if it does not match.
     */
    public static EmbeddingTable open(Path file, String sourceSha256, Variant variant, int vocab, int dModel, boolean fromCache,
                                      Consumer<String> problems) {
        SafetensorsFile f;
        try {
            f = SafetensorsFile.open(file);
        } catch (SafetensorsException e) {
            problems.accept(e.getMessage());
            return null;
        }
        String problem = check(f, sourceSha256, variant, vocab, dModel, fromCache);
        if (problem != null) {
            f.close();
            problems.accept(file + ": " + problem);
            return null;
        }
        return new EmbeddingTable(f, fromCache);
    }

    private static String check(SafetensorsFile f, String sha, Variant variant, int vocab, int dModel, boolean checkData) {
        Map<String, String> md = f.metadata();
        if (!FORMAT.equals(md.get("headscan.format"))) return "not a " + FORMAT + " file (format " + md.get("headscan.format") + ")";
        if (!variant.id().equals(md.get("headscan.variant"))) return "holds variant " + md.get("headscan.variant") + ", not " + variant.id();
        if (sha != null && !sha.equals(md.get("headscan.source_sha256"))) return "was computed from another checkpoint (" + md.get("headscan.source_sha256") + ")";
        if (!f.has(TENSOR)) return "has no " + TENSOR + " tensor";
        TensorInfo t = f.info(TENSOR);
        if (t.dtype() != DType.F32 || !Arrays.equals(t.shape(), new long[] {vocab, dModel})) {
            return TENSOR + " is " + t.dtype() + " " + t.shapeString() + ", expected F32 [" + vocab + ", " + dModel + "]";
        }
        String crc = md.get("headscan.data_crc32c");
        if (crc == null || (checkData && !crc.equals(f.dataCrc32c()))) return "data checksum mismatch (corrupted)";
        return null;
    }

    /**
     * W_EE of the model for a variant, from the cache when a valid file is there, otherwise computed and
     * stored there (or, when the cache cannot be written, computed into a temporary file).
     */
    public static EmbeddingTable obtain(Model model, Variant variant, Backend backend, Path cacheRoot, Progress progress,
                                        Consumer<String> notes) throws IOException {
        String sha = CheckpointIdentity.sha256(model.file(), cacheRoot, progress);
        String definition = modelDefinition(model);
        String defKey = shortHash(definition);
        Path cached = cacheRoot.resolve("wee").resolve(sha + "-" + defKey + "-" + variant.id() + ".safetensors");
        // the name before the definition was part of it (headscan-wee-1): never read again, so not kept either
        Files.deleteIfExists(cacheRoot.resolve("wee").resolve(sha + "-" + variant.id() + ".safetensors"));
        int v = model.dims().vocab(), d = model.dims().dModel();
        if (Files.isRegularFile(cached)) {
            EmbeddingTable t = open(cached, sha, variant, v, d, true, p -> notes.accept("ignoring cached W_EE: " + p));
            if (t != null && !definition.equals(t.metadata().get("headscan.model"))) {
                notes.accept("ignoring cached W_EE: " + cached + ": computed for " + t.metadata().get("headscan.model") + ", not " + definition);
                t.close();
                t = null;
            }
            if (t != null) {
                notes.accept("W_EE (" + variant.id() + ") from cache " + cached);
                return t;
            }
            Files.deleteIfExists(cached);
        }
        Path target = cached;
        Path scratch = null;
        try {
            Files.createDirectories(cached.getParent());
            io.headscan.AtomicFiles.checkWritable(cached, null);
        } catch (IOException e) {
            scratch = Files.createTempDirectory("headscan-wee");
            target = scratch.resolve(cached.getFileName());
            notes.accept("cache folder " + cached.getParent() + " is not writable (" + e.getMessage() + "); computing into " + target
                    + " for this run only");
        }
        try {
            write(model, sha, variant, backend, target, progress);
            if (scratch == null) notes.accept("W_EE (" + variant.id() + ") computed and cached at " + target);
            EmbeddingTable t = open(target, sha, variant, v, d, false, notes::accept);
            if (t == null) throw new IOException("the W_EE file just written at " + target + " does not check out");
            t.scratch = scratch;
            scratch = null;
            return t;
        } finally {
            if (scratch != null) deleteScratch(scratch);
        }
    }

    @Override
    public void close() {
        file.close();
        if (scratch != null) deleteScratch(scratch);
    }

    private static void deleteScratch(Path dir) {
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) Files.deleteIfExists(p);
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // /tmp is cleaned by the system in the end
        }
    }
}
