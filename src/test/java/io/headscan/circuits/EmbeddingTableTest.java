package io.headscan.circuits;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.Progress;
import io.headscan.compute.JavaBackend;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.Matrix;
import io.headscan.synth.SyntheticGpt2;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The W_EE cache: reused when valid, never trusted when stale or corrupt. */
class EmbeddingTableTest {

    @TempDir
    Path dir;

    private Model model() throws IOException {
        new SyntheticGpt2(new Dims(200, 32, 2, 2, 64, 8), 4, List.of()).write(dir.resolve("m"), 2);
        return Model.open(dir.resolve("m"));
    }

    @Test
    void cachedTableIsReusedAndMatchesAFreshComputation() throws IOException {
        Path cache = dir.resolve("cache");
        try (Model m = model(); JavaBackend b = new JavaBackend(2); Arena arena = Arena.ofShared()) {
            List<String> notes = new ArrayList<>();
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, b, cache, Progress.NONE, notes::add)) {
                assertFalse(t.fromCache());
                assertEquals("full", t.metadata().get("headscan.variant"));
                assertTrue(t.path().startsWith(cache.resolve("wee")));
            }
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, b, cache, Progress.NONE, notes::add)) {
                assertTrue(t.fromCache(), notes.toString());
                Matrix fresh = Matrix.dense(arena.allocate(200L * 32 * 4), 200, 32);
                new EffectiveEmbedding(m, b, Variant.FULL).computeAll(fresh, Progress.NONE);
                assertArrayEquals(fresh.toArray(), t.matrix().toArray());
            }
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.NOATTN, b, cache, Progress.NONE, notes::add)) {
                assertFalse(t.fromCache(), "another variant is another entry");
            }
        }
    }

    /**
     * W_EE depends on config values as well as on the weights: the same weights under another activation or epsilon
     * (a config-only commit) are another entry, never the first one's table.
     */
    @Test
    void theSameWeightsUnderAnotherConfigAreAnotherEntry() throws IOException {
        Path cache = dir.resolve("cache");
        new SyntheticGpt2(new Dims(200, 32, 2, 2, 64, 8), 4, List.of()).write(dir.resolve("m"), 2);
        Path other = Files.createDirectories(dir.resolve("m2"));
        Files.copy(dir.resolve("m").resolve("model.safetensors"), other.resolve("model.safetensors"));
        String config = Files.readString(dir.resolve("m").resolve("config.json"));
        String changed = config.replace("\"gelu_new\"", "\"gelu\"").replace("1.0E-5", "0.01");
        assertNotEquals(config, changed);
        Files.writeString(other.resolve("config.json"), changed);
        try (JavaBackend b = new JavaBackend(2); Model m = Model.open(dir.resolve("m")); Model m2 = Model.open(other)) {
            float[] first;
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, b, cache, Progress.NONE, s -> {})) {
                first = t.matrix().toArray();
            }
            List<String> notes = new ArrayList<>();
            try (EmbeddingTable t = EmbeddingTable.obtain(m2, Variant.FULL, b, cache, Progress.NONE, notes::add)) {
                assertFalse(t.fromCache(), notes.toString());
                assertEquals("gpt2; 2 heads; gelu; eps 0.01; sequential block", t.metadata().get("headscan.model"));
                float[] second = t.matrix().toArray();
                double diff = 0;
                for (int i = 0; i < first.length; i++) diff = Math.max(diff, Math.abs(first[i] - second[i]));
                assertTrue(diff > 1e-3, "another activation and epsilon move W_EE: " + diff);
            }
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, b, cache, Progress.NONE, s -> {})) {
                assertTrue(t.fromCache());
                assertArrayEquals(first, t.matrix().toArray());
            }
        }
    }

    /**
     * The head count is part of W_EE's definition where heads interleave in a fused projection (GPT-NeoX: it decides
     * which rows are V): the same Pythia weights read as 2 heads instead of 4 are another entry, with other values.
     */
    @Test
    void theSameFusedWeightsUnderAnotherHeadCountAreAnotherEntry() throws IOException {
        Path cache = dir.resolve("cache");
        Path fixture = Path.of("src/test/resources/families/pythia");
        Path other = Files.createDirectories(dir.resolve("pythia-2-heads"));
        Files.copy(fixture.resolve("model.safetensors"), other.resolve("model.safetensors"));
        String config = Files.readString(fixture.resolve("config.json"));
        String changed = config.replaceFirst("\"num_attention_heads\":\\s*4", "\"num_attention_heads\": 2");
        assertNotEquals(config, changed);
        Files.writeString(other.resolve("config.json"), changed);
        try (JavaBackend b = new JavaBackend(2); Model m = Model.open(fixture); Model m2 = Model.open(other)) {
            assertEquals(2, m2.dims().heads());
            float[] first;
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, b, cache, Progress.NONE, s -> {})) {
                first = t.matrix().toArray();
            }
            try (EmbeddingTable t = EmbeddingTable.obtain(m2, Variant.FULL, b, cache, Progress.NONE, s -> {})) {
                assertFalse(t.fromCache());
                float[] second = t.matrix().toArray();
                double diff = 0;
                for (int i = 0; i < first.length; i++) diff = Math.max(diff, Math.abs(first[i] - second[i]));
                assertTrue(diff > 1e-3, "other rows of query_key_value are V: " + diff);
            }
        }
    }

    @Test
    void aCacheFileNamedTheOldWayIsRemoved() throws IOException {
        Path cache = dir.resolve("cache");
        try (Model m = model(); JavaBackend b = new JavaBackend(2)) {
            String sha = io.headscan.circuits.CheckpointIdentity.sha256(m.file(), cache, Progress.NONE);
            Path old = Files.createDirectories(cache.resolve("wee")).resolve(sha + "-full.safetensors");
            Files.writeString(old, "a headscan-wee-1 table");
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, b, cache, Progress.NONE, s -> {})) {
                assertFalse(t.fromCache());
            }
            assertFalse(Files.exists(old));
        }
    }

    @Test
    void corruptedCacheIsDetectedAndRecomputed() throws IOException {
        Path cache = dir.resolve("cache");
        try (Model m = model(); JavaBackend b = new JavaBackend(2)) {
            Path file;
            float[] good;
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.HACKATHON, b, cache, Progress.NONE, s -> {})) {
                file = t.path();
                good = t.matrix().toArray();
            }
            try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
                raf.seek(raf.length() - 100);
                int x = raf.read();
                raf.seek(raf.length() - 100);
                raf.write(x ^ 0x40);
            }
            List<String> notes = new ArrayList<>();
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.HACKATHON, b, cache, Progress.NONE, notes::add)) {
                assertFalse(t.fromCache());
                assertArrayEquals(good, t.matrix().toArray());
            }
            assertTrue(notes.stream().anyMatch(n -> n.contains("checksum mismatch")), notes.toString());

            // truncated: a structural error, also ignored and replaced
            try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
                raf.setLength(raf.length() - 8);
            }
            notes.clear();
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.HACKATHON, b, cache, Progress.NONE, notes::add)) {
                assertFalse(t.fromCache());
            }
            assertTrue(notes.stream().anyMatch(n -> n.contains("bytes missing")), notes.toString());
        }
    }

    @Test
    void tableOfAnotherVariantOrCheckpointIsRejected() throws IOException {
        Path cache = dir.resolve("cache");
        try (Model m = model(); JavaBackend b = new JavaBackend(2)) {
            Path full;
            String sha;
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, b, cache, Progress.NONE, s -> {})) {
                full = t.path();
                sha = t.metadata().get("headscan.source_sha256");
            }
            List<String> problems = new ArrayList<>();
            assertNull(EmbeddingTable.open(full, sha, Variant.NOATTN, 200, 32, io.headscan.format.DType.F32, true, problems::add));
            assertNull(EmbeddingTable.open(full, "0".repeat(64), Variant.FULL, 200, 32, io.headscan.format.DType.F32, true, problems::add));
            assertNull(EmbeddingTable.open(full, sha, Variant.FULL, 201, 32, io.headscan.format.DType.F32, true, problems::add));
            assertTrue(problems.get(0).contains("holds variant full, not noattn"), problems.toString());
            assertTrue(problems.get(1).contains("another checkpoint"), problems.toString());
            assertTrue(problems.get(2).contains("expected F32 [201, 32]"), problems.toString());
            Files.delete(full);
        }
    }

    /**
     * A BF16 checkpoint's table is stored in BF16: its size is stated before it is written, it holds the F32 computation
     * rounded once, reads back widened to F32, and a cached copy is reused.
     */
    @Test
    void aHalfPrecisionCheckpointsTableIsStoredInItsPrecision() throws IOException {
        Path cache = dir.resolve("cache-bf16");
        try (Model m = Model.open(Path.of("src/test/resources/families/llama/bf16")); JavaBackend b = new JavaBackend(2); Arena arena = Arena.ofShared()) {
            int v = m.dims().vocab(), d = m.dims().dModel();
            List<String> notes = new ArrayList<>();
            Matrix fresh = Matrix.allocate(arena, v, d);
            new EffectiveEmbedding(m, b, Variant.FULL).computeAll(fresh, Progress.NONE);
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, b, cache, Progress.NONE, notes::add)) {
                assertEquals(io.headscan.format.DType.BF16, t.storedType());
                try (var f = io.headscan.format.SafetensorsFile.open(t.path())) {
                    var info = f.info(EmbeddingTable.TENSOR);
                    assertEquals((long) v * d * 2, info.end() - info.begin());
                }
                String size = String.format(java.util.Locale.ROOT, "will take %.1f MB on disk", v * d * 2 / 1e6);
                assertTrue(notes.stream().anyMatch(n -> n.contains(size) && n.contains("BF16 (the checkpoint's precision")), notes.toString());
                int mismatches = 0;
                for (int r = 0; r < v; r++) {
                    for (int c = 0; c < d; c++) {
                        float want = Float.intBitsToFloat((io.headscan.format.HalfFloats.toBfloat16(fresh.get(r, c)) & 0xffff) << 16);
                        if (want != t.matrix().get(r, c)) mismatches++;
                    }
                }
                assertEquals(0, mismatches, "each element is the F32 value rounded to BF16 once");
            }
            try (EmbeddingTable t = EmbeddingTable.obtain(m, Variant.FULL, b, cache, Progress.NONE, notes::add)) {
                assertTrue(t.fromCache(), notes.toString());
                assertEquals(io.headscan.format.DType.BF16, t.storedType());
            }
        }
    }

    /**
     * W_EE values beyond F16's range are caught while the table is narrowed (not written as infinities): the F16 write
     * stops with F16Overflow and leaves no file, which is what makes obtain store the table in F32 instead.
     */
    @Test
    void valuesBeyondF16AreCaughtWhileNarrowing() throws IOException {
        new SyntheticGpt2(new Dims(200, 32, 2, 2, 64, 8), 4, List.of()).write(dir.resolve("src"), 2);
        Path big = dir.resolve("big");
        Files.createDirectories(big);
        Files.copy(dir.resolve("src").resolve("config.json"), big.resolve("config.json"));
        try (io.headscan.format.SafetensorsFile f = io.headscan.format.SafetensorsFile.open(dir.resolve("src").resolve("model.safetensors"))) {
            io.headscan.format.SafetensorsWriter w = new io.headscan.format.SafetensorsWriter();
            for (io.headscan.format.TensorInfo t : f.tensors()) {
                java.lang.foreign.MemorySegment src = f.segment(t);
                boolean wte = t.name().endsWith("wte.weight");
                w.add(t.name(), t.dtype(), t.shape(), seg -> {
                    java.lang.foreign.MemorySegment.copy(src, 0, seg, 0, src.byteSize());
                    if (wte) for (long i = 0; i < seg.byteSize() / 4; i++) seg.setAtIndex(io.headscan.format.SafetensorsFile.F32_LE, i, seg.getAtIndex(io.headscan.format.SafetensorsFile.F32_LE, i) * 1e6f);
                });
            }
            w.write(big.resolve("model.safetensors"));
        }
        try (Model m = Model.open(big); JavaBackend b = new JavaBackend(2)) {
            Path out = dir.resolve("wee-f16.safetensors");
            assertThrows(EmbeddingTable.F16Overflow.class,
                    () -> EmbeddingTable.write(m, "0".repeat(64), Variant.NOATTN, b, out, Progress.NONE, io.headscan.format.DType.F16));
            assertFalse(Files.exists(out));
            try (var left = Files.list(dir)) {
                assertTrue(left.noneMatch(p -> p.getFileName().toString().startsWith("wee-f16")), "no temporary file left");
            }
            EmbeddingTable.write(m, "0".repeat(64), Variant.NOATTN, b, out, Progress.NONE, io.headscan.format.DType.F32);   // the fallback
            try (EmbeddingTable t = EmbeddingTable.open(out, "0".repeat(64), Variant.NOATTN, 200, 32, io.headscan.format.DType.F16, true, s -> fail(s))) {
                assertEquals(io.headscan.format.DType.F32, t.storedType(), "an F16 model's table may be F32");
                assertTrue(Math.abs(t.matrix().get(0, 0)) > 65504 || Math.abs(t.matrix().get(1, 1)) > 65504);
            }
        }
    }
}
