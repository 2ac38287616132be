package io.headscan.circuits;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.synth.SyntheticGpt2;
import io.headscan.testing.Corrupt;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** NaN/Inf planted in real checkpoint files: found, counted, and traced to exactly the heads they feed. */
class NonFiniteTest {

    @TempDir
    Path dir;

    /** 3 layers x 4 heads, d = 32 (d_head 8): c_attn is [32, 96], Q | K | V, head h owns columns 8h..8h+7 of each. */
    private Path model() throws IOException {
        Path m = dir.resolve("m");
        new SyntheticGpt2(new Dims(200, 32, 3, 4, 64, 8), 3, List.of()).write(m, 2);
        return m.resolve("model.safetensors");
    }

    private NonFinite.Report check(Path file, NonFinite.Circuit c, Variant v) {
        try (Model m = Model.open(file)) {
            return NonFinite.check(m, c, v, dir.resolve("cache"));
        }
    }

    @Test
    void aCleanCheckpointIsClean() throws IOException {
        Path f = model();
        for (NonFinite.Circuit c : NonFinite.Circuit.values()) assertTrue(check(f, c, Variant.FULL).clean(), c.toString());
    }

    @Test
    void aQueryColumnReachesOneHeadsQkCircuitOnly() throws IOException {
        Path f = model();
        Corrupt.set(f, "h.1.attn.c_attn.weight", 5, 2 * 8 + 3, Float.NaN);        // Q of head 1.2
        Corrupt.set(f, "h.1.attn.c_attn.weight", 7, 32 + 2 * 8 + 1, Float.NaN);   // K of the same head
        NonFinite.Report qk = check(f, NonFinite.Circuit.QK, Variant.HACKATHON);
        assertEquals(Set.of(new HeadId(1, 2)), qk.heads());
        assertEquals(1, qk.counts().size());
        assertEquals(2, qk.counts().getFirst().nan());
        assertEquals("non-finite weights: h.1.attn.c_attn.weight (2 NaN); they reach head 1.2", qk.describe(new Dims(200, 32, 3, 4, 64, 8)));
        assertTrue(check(f, NonFinite.Circuit.OV, Variant.FULL).heads().isEmpty(), "the OV circuit does not read Q or K");
        assertTrue(check(f, NonFinite.Circuit.EMBED, Variant.FULL).clean(), "W_EE does not read layer 1");
    }

    @Test
    void valueAndOutputBlocksReachOneHeadsOvCircuit() throws IOException {
        Path f = model();
        Corrupt.set(f, "h.2.attn.c_attn.weight", 0, 64 + 3 * 8, Float.POSITIVE_INFINITY);   // V of head 2.3
        Corrupt.set(f, "h.2.attn.c_proj.weight", 8 + 4, 9, Float.NaN);                      // W_O rows of head 2.1
        NonFinite.Report ov = check(f, NonFinite.Circuit.OV, Variant.FULL);
        assertEquals(Set.of(new HeadId(2, 3), new HeadId(2, 1)), ov.heads());
        assertTrue(check(f, NonFinite.Circuit.QK, Variant.FULL).heads().isEmpty());
    }

    @Test
    void theEmbeddingAndLayerZeroReachEveryHead() throws IOException {
        Path f = model();
        Corrupt.set(f, "wte.weight", 17, 3, Float.NEGATIVE_INFINITY);
        NonFinite.Report r = check(f, NonFinite.Circuit.QK, Variant.HACKATHON);
        assertEquals(12, r.heads().size());
        assertEquals(1, r.counts().getFirst().inf());
        assertTrue(r.describe(new Dims(200, 32, 3, 4, 64, 8)).endsWith("they reach every head"));

        Path g = dir.resolve("g");
        new SyntheticGpt2(new Dims(200, 32, 3, 4, 64, 8), 4, List.of()).write(g, 2);
        Corrupt.set(g.resolve("model.safetensors"), "h.0.attn.c_attn.weight", 1, 64 + 5, Float.NaN);   // V of head 0.0
        assertEquals(12, check(g.resolve("model.safetensors"), NonFinite.Circuit.QK, Variant.FULL).heads().size(),
                "W_EE (full) adds layer 0's attention output, which reads every V column");
        assertEquals(Set.of(), check(g.resolve("model.safetensors"), NonFinite.Circuit.QK, Variant.NOATTN).heads(),
                "noattn ablates it");
        Corrupt.set(g.resolve("model.safetensors"), "h.2.ln_1.weight", 0, 6, Float.NaN);
        assertEquals(Set.of(new HeadId(2, 0), new HeadId(2, 1), new HeadId(2, 2), new HeadId(2, 3)),
                check(g.resolve("model.safetensors"), NonFinite.Circuit.QK, Variant.NOATTN).heads());
    }

    @Test
    void countsAreRememberedPerFileAndARewrittenFileIsCountedAgain() throws IOException {
        Path f = model();
        assertTrue(check(f, NonFinite.Circuit.QK, Variant.FULL).clean());
        try (var s = Files.list(dir.resolve("cache").resolve("nonfinite"))) {
            assertEquals(1, s.count(), "one memo for the file");
        }
        Corrupt.set(f, "h.0.ln_2.weight", 0, 0, Float.NaN);   // the file changes (mtime): the memo no longer applies
        assertFalse(check(f, NonFinite.Circuit.QK, Variant.FULL).clean());
    }

    @Test
    void theLastFloatOfAnOddLengthTensorIsChecked() throws IOException {
        Path m = dir.resolve("odd");
        new SyntheticGpt2(new Dims(101, 33, 1, 3, 66, 8), 5, List.of()).write(m, 2);   // vectors of 33 floats
        Path f = m.resolve("model.safetensors");
        Corrupt.set(f, "h.0.ln_2.weight", 0, 32, Float.NaN);
        NonFinite.Report r = check(f, NonFinite.Circuit.QK, Variant.FULL);
        assertEquals(1, r.counts().size());
        assertEquals("h.0.ln_2.weight", r.counts().getFirst().tensor());
        Corrupt.set(f, "wte.weight", 100, 32, Float.NEGATIVE_INFINITY);   // the very last float of E (101 x 33, odd)
        assertEquals(1, check(f, NonFinite.Circuit.EMBED, Variant.FULL).counts().stream().filter(c -> c.tensor().equals("wte.weight")).count());
    }

    @Test
    void aValueInALaterChunkOfALargeTensorIsFound() throws IOException {
        Path m = dir.resolve("large");
        new SyntheticGpt2(new Dims(40_000, 32, 1, 2, 64, 8), 6, List.of()).write(m, 2);   // wte: 1.28 M floats, 2 chunks
        Path f = m.resolve("model.safetensors");
        Corrupt.set(f, "wte.weight", 39_999, 31, Float.NaN);
        NonFinite.Report r = check(f, NonFinite.Circuit.EMBED, Variant.FULL);
        assertEquals(1, r.counts().getFirst().nan(), r.describe(new Dims(40_000, 32, 1, 2, 64, 8)));
    }

    /** F16 and BF16 tensors are checked as stored (not widened): every lane of the 4-at-a-time test, the tail, both kinds. */
    @Test
    void halfPrecisionValuesAreCountedAsStored() {
        for (boolean f16 : new boolean[] {true, false}) {
            short nan = f16 ? (short) 0x7e00 : (short) 0x7fc0, negInf = f16 ? (short) 0xfc00 : (short) 0xff80;
            short big = f16 ? (short) 0x7bff : (short) 0x7f7f;   // the largest finite: all exponent bits but the lowest
            for (int n : new int[] {1, 7, 4099}) {
                for (int at = 0; at < Math.min(n, 9); at++) {
                    try (var arena = java.lang.foreign.Arena.ofConfined()) {
                        var seg = arena.allocate(2L * n);
                        for (int i = 0; i < n; i++) seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i, big);
                        assertEquals(new NonFinite.Count("t", 0, 0), NonFinite.countHalf("t", seg, n, f16), "clean, n " + n);
                        int last = n - 1 - at;
                        seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, at, nan);
                        seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, last, last == at ? nan : negInf);
                        NonFinite.Count c = NonFinite.countHalf("t", seg, n, f16);
                        assertEquals(1, c.nan(), (f16 ? "F16" : "BF16") + " n " + n + " at " + at);
                        assertEquals(last == at ? 0 : 1, c.inf(), (f16 ? "F16" : "BF16") + " n " + n + " at " + at);
                    }
                }
            }
        }
    }
}
