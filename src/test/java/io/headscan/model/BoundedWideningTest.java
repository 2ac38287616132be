package io.headscan.model;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.circuits.EffectiveEmbedding;
import io.headscan.circuits.Variant;
import io.headscan.compute.Backend;
import io.headscan.compute.JavaBackend;
import io.headscan.format.DType;
import io.headscan.format.TensorInfo;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Half-precision weights are widened a layer at a time: asking for layer l's tensors frees every other layer's widened
 * copies, a freed copy's old views fail instead of reading freed memory, going back widens again with the same values,
 * and the embedding is never widened whole to compute W_EE. (Real transformers-written BF16 checkpoints; the bound on a
 * whole command's memory is checked in a child JVM by {@code MemoryCapTest}.)
 */
class BoundedWideningTest {

    static final Path FAMILIES = Path.of("src/test/resources/families");

    private static long bytes(Model m, String tensor) {
        return m.file().info(tensor).elementCount() * Float.BYTES;
    }

    @Test
    void onlyOneLayersWidenedCopiesLiveAtATime() {
        try (Model m = Model.open(FAMILIES.resolve("llama/bf16"))) {
            assertEquals(DType.BF16, m.file().info(m.name(Model.Role.Q, 0)).dtype());
            HeadId h0 = new HeadId(0, 1), h1 = new HeadId(1, 1);
            float[] q0 = m.wq(h0).toArray(), k0 = m.wk(h0).toArray();
            Matrix oldView = m.wq(h0).stored();
            long layer0 = bytes(m, m.name(Model.Role.Q, 0)) + bytes(m, m.name(Model.Role.K, 0));
            assertEquals(layer0, m.widenedBytes(), "layer 0's q_proj and k_proj widened, nothing else");

            float[] q1 = m.wq(h1).toArray();
            assertEquals(bytes(m, m.name(Model.Role.Q, 1)), m.widenedBytes(), "layer 0's copies freed when layer 1 is asked for");
            assertEquals(layer0, m.widenedPeakBytes(), "never two layers at once");
            assertThrows(IllegalStateException.class, () -> oldView.get(0, 0), "a freed copy's view fails, it is never read");

            // back to layer 0: widened again, the same values
            assertArrayEquals(q0, m.wq(h0).toArray());
            assertArrayEquals(k0, m.wk(h0).toArray());
            assertEquals(5, m.widenings(), "q0, k0, q1, then q0 and k0 again");
            assertFalse(java.util.Arrays.equals(q0, q1));

            // whole-model tables are not per layer: they stay while layers come and go
            Matrix u = m.unembedding();
            float u00 = u.get(0, 0);
            m.wq(h1).toArray();
            assertEquals(u00, u.get(0, 0));
        }
    }

    @Test
    void theEffectiveEmbeddingOfEveryTokenNeverWidensTheWholeEmbedding() {
        for (String form : new String[] {"llama/bf16", "pythia/bf16"}) {
            try (Model m = Model.open(FAMILIES.resolve(form)); Backend b = new JavaBackend(1); Arena arena = Arena.ofConfined()) {
                TensorInfo e = m.file().info(m.name(Model.Role.EMBED, 0));
                assertNotEquals(DType.F32, e.dtype(), form);
                Matrix out = Matrix.allocate(arena, m.dims().vocab(), m.dims().dModel());
                new EffectiveEmbedding(m, b, Variant.NOATTN).computeAll(out, io.headscan.Progress.NONE);
                assertFalse(m.tableInPlace(Model.Role.EMBED), form + ": E is read a chunk of rows at a time, never widened whole");
                long layer0 = 0;
                for (Model.Role r : Model.Role.values()) {
                    String n = m.name(r, 0);
                    if (n != null && r != Model.Role.EMBED && r != Model.Role.UNEMBED && m.file().has(n)) layer0 += bytes(m, n);
                }
                assertTrue(m.widenedPeakBytes() <= layer0, form + ": widened peak " + m.widenedPeakBytes() + " within layer 0's " + layer0);
                assertTrue(m.widenedPeakBytes() < layer0 + bytes(m, e.name()));
            }
        }
    }

    /** U for the whole vocabulary from a half-precision unembedding: a chunk of widened rows at a time, the same floats. */
    @Test
    void theWholeUnembeddingIsBuiltWithoutWideningItsTable() {
        for (String form : new String[] {"llama/bf16", "pythia/bf16"}) {
            Path dir = FAMILIES.resolve(form);
            try (Model m = Model.open(dir); Model whole = Model.open(dir); Arena arena = Arena.ofConfined()) {
                int v = m.dims().vocab(), d = m.dims().dModel();
                Matrix chunked = Matrix.allocate(arena, v, d), reference = Matrix.allocate(arena, v, d);
                new io.headscan.circuits.Unembedding(m).columns(0, null, chunked);
                assertFalse(m.tableInPlace(Model.Role.UNEMBED), form);
                whole.unembedding();   // widened whole first: the path that reads the table in place
                assertTrue(whole.tableInPlace(Model.Role.UNEMBED));
                new io.headscan.circuits.Unembedding(whole).columns(0, null, reference);
                assertArrayEquals(reference.toArray(), chunked.toArray(), form);
            }
        }
    }
}
