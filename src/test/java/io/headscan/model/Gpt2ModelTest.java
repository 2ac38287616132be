package io.headscan.model;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.format.DType;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.SafetensorsWriter;
import io.headscan.format.TensorInfo;
import io.headscan.synth.SyntheticGpt2;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import java.util.function.Predicate;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Gpt2ModelTest {

    static final Dims DIMS = new Dims(101, 48, 3, 4, 96, 8);

    @TempDir
    static Path shared;
    static Path model;

    @TempDir
    Path dir;

    @BeforeAll
    static void synth() throws IOException {
        model = shared.resolve("m");
        new SyntheticGpt2(DIMS, 3, List.of()).write(model, 2);
    }

    /** Copies model.safetensors tensor by tensor, renaming, dropping or converting as asked. */
    private Path rewrite(java.util.function.UnaryOperator<String> rename, Predicate<String> keep, DType dtype, boolean withConfig)
            throws IOException {
        Path out = Files.createTempDirectory(dir, "rewritten");
        try (SafetensorsFile f = SafetensorsFile.open(model.resolve("model.safetensors"))) {
            SafetensorsWriter w = new SafetensorsWriter();
            for (TensorInfo t : f.tensors()) {
                if (!keep.test(t.name())) continue;
                MemorySegment src = f.segment(t);
                long n = t.elementCount();
                w.add(rename.apply(t.name()), dtype, t.shape(), dst -> {
                    for (long i = 0; i < n; i++) {
                        float v = src.getAtIndex(SafetensorsFile.F32_LE, i);
                        switch (dtype) {
                            case F32 -> dst.setAtIndex(SafetensorsFile.F32_LE, i, v);
                            case F16 -> dst.setAtIndex(SafetensorsFile.I16_LE, i, Float.floatToFloat16(v));
                            case BF16 -> dst.setAtIndex(SafetensorsFile.I16_LE, i, (short) (Float.floatToIntBits(v) >>> 16));
                            default -> throw new IllegalStateException();
                        }
                    }
                });
            }
            w.write(out.resolve("model.safetensors"));
        }
        if (withConfig) Files.copy(model.resolve("config.json"), out.resolve("config.json"));
        return out;
    }

    @Test
    void dimensionsComeFromShapesAndHeadsFromConfig() {
        try (Model m = Model.open(model)) {
            assertEquals(DIMS, m.dims());
            assertEquals(Model.HeadCountSource.CONFIG, m.headCountSource());
            assertEquals(12, m.dims().dHead());
            assertTrue(m.zeroCopy());
            assertEquals(2 + 13 * 3 + 2, m.tensors().size());
        }
    }

    @Test
    void withoutConfigHeadsComeFromOverrideThenDHead64() throws IOException {
        Path p = rewrite(n -> n, n -> true, DType.F32, false);
        try (Model m = Model.open(p, OptionalInt.of(6))) {
            assertEquals(6, m.dims().heads());
            assertEquals(Model.HeadCountSource.OVERRIDE, m.headCountSource());
        }
        ModelException e = assertThrows(ModelException.class, () -> Model.open(p));
        assertTrue(e.getMessage().contains("not a multiple of 64"), e.getMessage());
    }

    @Test
    void transformerPrefixIsAccepted() throws IOException {
        Path p = rewrite(n -> "transformer." + n, n -> true, DType.F32, true);
        try (Model m = Model.open(p); Model ref = Model.open(model)) {
            assertEquals("transformer.", m.prefix());
            assertEquals(ref.wq(new HeadId(2, 3)).get(5, 7), m.wq(new HeadId(2, 3)).get(5, 7));
        }
    }

    @Test
    void missingMaskBuffersAreFineMissingWeightsAreNamed() throws IOException {
        Path p = rewrite(n -> n, n -> !n.endsWith(".attn.bias"), DType.F32, true);
        try (Model m = Model.open(p)) {
            assertEquals(DIMS, m.dims());
        }
        Path q = rewrite(n -> n, n -> !n.equals("h.1.mlp.c_proj.bias"), DType.F32, true);
        ModelException e = assertThrows(ModelException.class, () -> Model.open(q));
        assertTrue(e.getMessage().contains("missing tensor h.1.mlp.c_proj.bias"), e.getMessage());
    }

    @Test
    void wrongShapeIsNamed() throws IOException {
        Path out = dir.resolve("bad");
        Files.createDirectories(out);
        SafetensorsWriter w = new SafetensorsWriter();
        for (Gpt2Layout.Entry e : Gpt2Layout.entries(DIMS)) {
            long[] shape = e.name().equals("h.2.attn.c_proj.weight") ? new long[] {48, 47} : e.shape();
            w.add(e.name(), DType.F32, shape, seg -> {});
        }
        w.write(out.resolve("model.safetensors"));
        ModelException ex = assertThrows(ModelException.class, () -> Model.open(out, OptionalInt.of(4)));
        assertTrue(ex.getMessage().contains("h.2.attn.c_proj.weight has shape [48, 47], expected [48, 48]"), ex.getMessage());
    }

    @Test
    void notAGpt2FileSaysSo() throws IOException {
        Path p = dir.resolve("other.safetensors");
        new SafetensorsWriter().addF32("weight", new long[] {2}, new float[] {1, 2}).write(p);
        ModelException e = assertThrows(ModelException.class, () -> Model.open(p));
        assertTrue(e.getMessage().contains("not a checkpoint of a family headscan reads (gpt2, gpt_neox, gpt_neo, opt, gptj, llama, mistral, qwen2, gemma, gemma2, olmo)"), e.getMessage());
    }

    @Test
    void headViewsAreTheRightBlocksOfCAttnAndCProj() {
        try (Model m = Model.open(model)) {
            int d = DIMS.dModel(), dh = DIMS.dHead();
            HeadId h = new HeadId(1, 2);
            Matrix cAttn = m.matrix(m.prefix() + Gpt2Layout.cAttnWeight(1));
            Matrix proj = m.matrix(m.prefix() + Gpt2Layout.attnProjWeight(1));
            for (int r = 0; r < d; r += 7) {
                for (int j = 0; j < dh; j++) {
                    assertEquals(cAttn.get(r, 2 * dh + j), m.wq(h).get(r, j));
                    assertEquals(cAttn.get(r, d + 2 * dh + j), m.wk(h).get(r, j));
                    assertEquals(cAttn.get(r, 2 * d + 2 * dh + j), m.wv(h).get(r, j));
                }
            }
            for (int j = 0; j < dh; j++) assertEquals(proj.get(2 * dh + j, 5), m.wo(h).get(j, 5));
            assertEquals(3 * d, m.wq(h).stored().ld());
            assertFalse(m.wq(h).transposed(), "GPT-2 Conv1D weights are used as stored");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.wq(new HeadId(3, 0)));
            assertTrue(e.getMessage().contains("unknown head 3.0"), e.getMessage());
        }
    }

    @Test
    void halfPrecisionCheckpointsAreWidenedExactly() throws IOException {
        for (DType t : List.of(DType.F16, DType.BF16)) {
            Path p = rewrite(n -> n, n -> true, t, true);
            try (Model m = Model.open(p); Model ref = Model.open(model)) {
                assertFalse(m.zeroCopy());
                float x = ref.wk(new HeadId(2, 1)).get(3, 4);
                float expected = t == DType.F16 ? Float.float16ToFloat(Float.floatToFloat16(x))
                        : Float.intBitsToFloat(Float.floatToIntBits(x) & 0xffff0000);
                assertEquals(expected, m.wk(new HeadId(2, 1)).get(3, 4), 0f, t.name());
            }
        }
    }

    @Test
    void headIdsParseAndNameBadInput() {
        assertEquals(new HeadId(10, 7), HeadId.parse("10.7"));
        assertEquals(List.of(new HeadId(10, 7), new HeadId(11, 10)), HeadId.parseList("10.7,11.10"));
        assertThrows(IllegalArgumentException.class, () -> HeadId.parse("10"));
        assertThrows(IllegalArgumentException.class, () -> HeadId.parse("a.b"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HeadId.parse("12.0").checkIn(Dims.GPT2_SMALL));
        assertTrue(e.getMessage().contains("unknown head 12.0"));
    }

    @Test
    void gpt2SmallParameterCountMatchesThePublishedOne() {
        assertEquals(KnownCheckpoint.GPT2.parameters(), Dims.GPT2_SMALL.parameterCount());
        assertEquals(160, Gpt2Layout.entries(Dims.GPT2_SMALL).size());
    }
}
