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
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The full-vocabulary effective embedding W_EE [V, d] (docs/science.md §2) as a safetensors file
 * (tensor {@code W_EE}) whose metadata names the variant and the source checkpoint's SHA-256,
 * and carries a CRC32C of the data. The tensor is F32, or F16/BF16 when the checkpoint's embedding is: computed in F32
 * and rounded once when stored (relative error up to 2^-9 for BF16, 2^-12 for F16, on top of the F32 computation; half
 * the disk of a 7B model's 0.5 GB table). An F16 table whose values would overflow F16 is stored in F32 instead. A half
 * table is widened to F32 off-heap when first read, so every reader sees F32 rows; {@code sweep}, which keeps W_EE in
 * memory, rounds it the same way ({@link #roundAsStored}), so the same checkpoint gives the same numbers everywhere. Full-vocabulary commands reuse it from the cache
 * ({@code <cache>/wee/<sha256>-<variant>.safetensors}); a cache file whose metadata does not match, or
 * whose data fails its checksum, is reported, deleted and recomputed — never trusted.
 */
public final class EmbeddingTable implements AutoCloseable {

    public static final String TENSOR = "W_EE";
    /** Bumped whenever the definition or the file layout changes, so older caches are recomputed. */
    public static final String FORMAT = "headscan-wee-3";

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
    private Matrix wee;
    /** The widened copy of a half-precision table. */
    private final java.lang.foreign.Arena widened = java.lang.foreign.Arena.ofShared();
    private final boolean fromCache;
    /** A table computed outside the cache (the cache was not writable): its folder, removed on close. */
    private Path scratch;

    private EmbeddingTable(SafetensorsFile file, boolean fromCache) {
        this.file = file;
        this.fromCache = fromCache;
    }

    /**
     * W_EE [V, d] in F32: the mapped file itself, or (F16/BF16) a copy widened on first use (read-only, as the mapping
     * is, so that a GPU backend keeps one copy of it on the device).
     */
    public synchronized Matrix matrix() {
        if (wee == null) {
            TensorInfo t = file.info(TENSOR);
            MemorySegment data = file.segment(t);
            if (t.dtype() != DType.F32) {
                MemorySegment f32 = io.headscan.OffHeap.allocate(widened, t.elementCount() * Float.BYTES);
                io.headscan.format.HalfFloats.widenAll(data, f32, t.elementCount(), t.dtype() == DType.F16);
                data = f32.asReadOnly();
            }
            wee = Matrix.dense(data, (int) t.dim(0), (int) t.dim(1));
        }
        return wee;
    }

    public Path path() {
        return file.path();
    }

    public boolean fromCache() {
        return fromCache;
    }

    /** How the table is stored: F32, or the checkpoint's F16/BF16. */
    public DType storedType() {
        return file.info(TENSOR).dtype();
    }

    /** The type W_EE of this model is stored in: the embedding's F16/BF16, else F32. */
    public static DType storedType(Model model) {
        DType e = model.file().info(model.name(Model.Role.EMBED, 0)).dtype();
        return e == DType.F16 || e == DType.BF16 ? e : DType.F32;
    }

    /** Bytes of the W_EE file of this model (header aside). */
    public static long dataBytes(Model model) {
        return Math.multiplyExact(Math.multiplyExact((long) model.dims().vocab(), model.dims().dModel()), storedType(model).bytes());
    }

    public Map<String, String> metadata() {
        return file.metadata();
    }

    /** GEMM milliseconds and GFLOP of the last {@link #write} in this process (for --profile). */
    public static volatile double[] lastGemm = {0, 0};

    /** A W_EE value outside F16's range: the table is stored in F32 instead. */
    static final class F16Overflow extends RuntimeException {
        F16Overflow(float x) {
            super("W_EE value " + x + " is outside F16's range", null, false, false);
        }
    }

    /** Computes W_EE for the whole vocabulary and writes it (atomically) to {@code out}, stored as {@link #storedType(Model)}. */
    public static void write(Model model, String sourceSha256, Variant variant, Backend backend, Path out, Progress progress)
            throws IOException {
        write(model, sourceSha256, variant, backend, out, progress, storedType(model));
    }

    static void write(Model model, String sourceSha256, Variant variant, Backend backend, Path out, Progress progress, DType type)
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
        w.add(TENSOR, type, new long[] {v, d}, seg -> {
            if (type == DType.F32) ee.computeAll(Matrix.dense(seg, v, d), progress);
            else computeNarrowed(ee, seg, v, d, type == DType.F16, progress);
        });
        w.write(out);
        progress.done();
        lastGemm = new double[] {ee.gemmMs(), ee.gemmGflop()};
    }

    /** Rows of W_EE computed in F32 a chunk at a time (64 MB of them), each rounded into the half-precision table. */
    private static void computeNarrowed(EffectiveEmbedding ee, MemorySegment seg, int v, int d, boolean f16, Progress progress) {
        int chunk = (int) Math.max(1, Math.min(v, (64L << 20) / (4L * d)));
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            Matrix tile = Matrix.allocate(arena, chunk, d);
            float[] in = new float[d];
            short[] bits = new short[d];
            for (int t0 = 0; t0 < v; t0 += chunk) {
                int n = Math.min(chunk, v - t0);
                int[] tokens = java.util.stream.IntStream.range(t0, t0 + n).toArray();
                ee.compute(tokens, tile.rows(0, n), progress);
                for (int r = 0; r < n; r++) {
                    io.headscan.format.HalfFloats.narrow(tile.segment(), (long) r * d, seg, (long) (t0 + r) * d, d, f16, in, bits);
                    if (f16) for (int i = 0; i < d; i++) if (Float.isFinite(in[i]) && Float.isInfinite(Float.float16ToFloat(bits[i]))) throw new F16Overflow(in[i]);
                }
            }
        }
    }

    /**
     * {@code m} rounded in place to the precision its table would be stored in ({@link #storedType(Model)}): what a
     * cached table gives back, for callers that keep W_EE in memory (sweep). F32: unchanged. F16 with any finite value
     * beyond F16's range: unchanged as a whole, as the cache then stores the whole table in F32.
     */
    public static void roundAsStored(Model model, Matrix m) {
        DType type = storedType(model);
        if (type == DType.F32) return;
        boolean f16 = type == DType.F16;
        if (f16 && java.util.stream.IntStream.range(0, m.rows()).parallel().anyMatch(r -> {
            for (int c = 0; c < m.cols(); c++) {
                float x = m.get(r, c);
                if (Float.isFinite(x) && Float.isInfinite(io.headscan.format.HalfFloats.roundTrip(x, true))) return true;
            }
            return false;
        })) {
            return;
        }
        java.util.stream.IntStream.range(0, m.rows()).parallel().forEach(r -> {
            for (int c = 0; c < m.cols(); c++) {
                m.set(r, c, io.headscan.format.HalfFloats.roundTrip(m.get(r, c), f16));
            }
        });
    }

    /**
     * Opens a W_EE file and checks it against the expected source and variant (and, when {@code fromCache}, its data
     * against the CRC32C in its metadata: a file written moments ago by this process is not read back a second
     * time); null with a reason if it does not match.
     */
    public static EmbeddingTable open(Path file, String sourceSha256, Variant variant, int vocab, int dModel, DType stored, boolean fromCache,
                                      Consumer<String> problems) {
        SafetensorsFile f;
        try {
            f = SafetensorsFile.open(file);
        } catch (SafetensorsException e) {
            problems.accept(e.getMessage());
            return null;
        }
        String problem = check(f, sourceSha256, variant, vocab, dModel, fromCache, stored);
        if (problem != null) {
            f.close();
            problems.accept(file + ": " + problem);
            return null;
        }
        return new EmbeddingTable(f, fromCache);
    }

    private static String check(SafetensorsFile f, String sha, Variant variant, int vocab, int dModel, boolean checkData, DType stored) {
        Map<String, String> md = f.metadata();
        if (!FORMAT.equals(md.get("headscan.format"))) return "not a " + FORMAT + " file (format " + md.get("headscan.format") + ")";
        if (!variant.id().equals(md.get("headscan.variant"))) return "holds variant " + md.get("headscan.variant") + ", not " + variant.id();
        if (sha != null && !sha.equals(md.get("headscan.source_sha256"))) return "was computed from another checkpoint (" + md.get("headscan.source_sha256") + ")";
        if (!f.has(TENSOR)) return "has no " + TENSOR + " tensor";
        TensorInfo t = f.info(TENSOR);
        // an F16 model's table may be F32 (its values overflowed F16)
        if ((t.dtype() != stored && !(stored == DType.F16 && t.dtype() == DType.F32)) || !Arrays.equals(t.shape(), new long[] {vocab, dModel})) {
            return TENSOR + " is " + t.dtype() + " " + t.shapeString() + ", expected " + stored + " [" + vocab + ", " + dModel + "]";
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
            EmbeddingTable t = open(cached, sha, variant, v, d, storedType(model), true, p -> notes.accept("ignoring cached W_EE: " + p));
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
        long bytes = dataBytes(model);
        String why = null;
        try {
            Files.createDirectories(cached.getParent());
            io.headscan.AtomicFiles.checkWritable(cached, null);
        } catch (IOException e) {
            why = "is not writable (" + e.getMessage() + ")";
        }
        if (why == null) {
            try {
                checkSpace(cached.getParent(), bytes);
            } catch (IOException e) {
                why = "has no room: " + e.getMessage();
            }
        }
        if (why != null) {
            scratch = Files.createTempDirectory("headscan-wee");
            target = scratch.resolve(cached.getFileName());
            notes.accept("cache folder " + cached.getParent() + " " + why + "; computing into " + target + " for this run only");
        }
        try {
            if (scratch != null) checkSpace(scratch, bytes);
            DType type = storedType(model);
            notes.accept(String.format(java.util.Locale.ROOT, "W_EE (%s) will take %.1f MB on disk at %s: %s%s", variant.id(), bytes / 1e6, target, type,
                    type == DType.F32 ? "" : " (the checkpoint's precision; computed in F32, rounded once when stored)"));
            try {
                write(model, sha, variant, backend, target, progress, type);
            } catch (F16Overflow e) {
                checkSpace(target.getParent(), 2 * bytes);
                notes.accept(e.getMessage() + ": recomputing W_EE to store it in F32 (" + String.format(java.util.Locale.ROOT, "%.1f MB", 2 * bytes / 1e6) + ")");
                write(model, sha, variant, backend, target, progress, DType.F32);
            }
            if (scratch == null) notes.accept("W_EE (" + variant.id() + ") computed and cached at " + target);
            EmbeddingTable t = open(target, sha, variant, v, d, storedType(model), false, notes::accept);
            if (t == null) throw new IOException("the W_EE file just written at " + target + " does not check out");
            t.scratch = scratch;
            scratch = null;
            return t;
        } finally {
            if (scratch != null) deleteScratch(scratch);
        }
    }

    /** Refuses, naming the folder, to write {@code bytes} where fewer are free (with 64 MB to spare). */
    static void checkSpace(Path dir, long bytes) throws IOException {
        long usable = Files.getFileStore(dir).getUsableSpace();
        if (usable < bytes + (64L << 20)) {
            throw new IOException(String.format(java.util.Locale.ROOT, "not enough free space for W_EE in %s: it needs %.1f MB, %.1f MB are free",
                    dir, bytes / 1e6, usable / 1e6));
        }
    }

    @Override
    public void close() {
        widened.close();
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
