package io.headscan.format;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.testing.Fixtures;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Files written by real PyTorch 2.13 (src/test/resources/pytorch/make_fixtures.py) read back through
 * {@link MappedCheckpoint}. Every expected value is recomputed here from the formula the script used, never read
 * from the files.
 */
class PyTorchFixturesTest {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The script's ramp: element i is ((7 i) mod 31) * scale + shift. */
    private static double ramp(int i, double scale, double shift) {
        return ((i * 7) % 31) * scale + shift;
    }

    @ParameterizedTest
    @ValueSource(strings = {"dtypes.bin", "pointer-keys.bin"})
    void everyTensorHasTheValuesPyTorchSaved(String file) {
        try (MappedCheckpoint c = MappedCheckpoint.open(Fixtures.pytorch(file))) {
            assertEquals(MappedCheckpoint.Format.PYTORCH_ZIP, c.format());
            assertEquals(List.of("f32", "tied", "f16", "bf16", "f64", "offset_view", "scalar", "mask", "param"),
                    c.tensors().stream().map(TensorInfo::name).toList());

            TensorInfo f32 = c.info("f32");
            assertEquals(DType.F32, f32.dtype());
            assertArrayEquals(new long[] {3, 4}, f32.shape());
            MemorySegment s = c.segment(f32);
            for (int i = 0; i < 12; i++) assertEquals((float) ramp(i, 0.5, -3), s.getAtIndex(F32, i), "f32[" + i + "]");

            TensorInfo tied = c.info("tied");
            assertEquals(c.fileOffset(f32), c.fileOffset(tied), "a tied tensor is the same bytes");
            assertArrayEquals(f32.shape(), tied.shape());

            MemorySegment h = c.segment("f16");
            assertArrayEquals(new long[] {2, 5}, c.info("f16").shape());
            for (int i = 0; i < 10; i++) assertEquals((float) ramp(i, 0.25, -1), Float.float16ToFloat(h.getAtIndex(I16, i)), "f16[" + i + "]");

            MemorySegment b = c.segment("bf16");
            assertEquals(DType.BF16, c.info("bf16").dtype());
            for (int i = 0; i < 6; i++) assertEquals((float) ramp(i, 2, 1), Float.intBitsToFloat((b.getAtIndex(I16, i) & 0xffff) << 16), "bf16[" + i + "]");

            MemorySegment d = c.segment("f64");
            for (int i = 0; i < 4; i++) assertEquals(ramp(i, 0.125, 0), d.getAtIndex(F64, i), "f64[" + i + "]");

            TensorInfo view = c.info("offset_view");
            assertArrayEquals(new long[] {2, 3}, view.shape());
            MemorySegment v = c.segment(view);
            for (int i = 0; i < 6; i++) assertEquals((float) ramp(8 + i, 1, 0), v.getAtIndex(F32, i), "offset_view[" + i + "] is base[8 + i]");

            TensorInfo scalar = c.info("scalar");
            assertEquals(0, scalar.rank());
            assertEquals(-1e4f, c.segment(scalar).get(F32, 0));

            TensorInfo mask = c.info("mask");
            assertEquals(DType.U8, mask.dtype());
            MemorySegment m = c.segment(mask);
            for (int r = 0; r < 3; r++) for (int k = 0; k < 3; k++) assertEquals(k <= r ? 1 : 0, m.get(ValueLayout.JAVA_BYTE, r * 3 + k));

            MemorySegment p = c.segment("param");
            for (int i = 0; i < 3; i++) assertEquals((float) ramp(i, 1, 5), p.getAtIndex(F32, i));
            assertEquals("yes", c.metadata().get("state_dict_metadata"));
        }
    }

    @Test
    void pointerKeysWithoutByteorderAreLittleEndianInAnotherFolder() {
        try (MappedCheckpoint c = MappedCheckpoint.open(Fixtures.pytorch("pointer-keys.bin"))) {
            assertEquals("archive", c.metadata().get("archive_folder"));
            assertFalse(c.metadata().containsKey("byteorder"));
            assertTrue(c.tensors().stream().anyMatch(t -> c.fileOffset(t) % 64 != 0), "zipfile does not align data as PyTorch does");
        }
        try (MappedCheckpoint c = MappedCheckpoint.open(Fixtures.pytorch("dtypes.bin"))) {
            assertEquals("little", c.metadata().get("byteorder"));
            assertEquals("dtypes", c.metadata().get("archive_folder"));
            for (TensorInfo t : c.tensors()) if (t.byteSize() > 0 && !t.name().equals("offset_view")) assertEquals(0, c.fileOffset(t) % 64, t.name());
        }
    }

    @Test
    void refusalsNameWhatIsWrong() {
        PyTorchException big = assertThrows(PyTorchException.class, () -> MappedCheckpoint.open(Fixtures.pytorch("big-endian.bin")));
        assertEquals(PyTorchException.Kind.BIG_ENDIAN, big.kind());
        PyTorchException z = assertThrows(PyTorchException.class, () -> MappedCheckpoint.open(Fixtures.pytorch("compressed.bin")));
        assertEquals(PyTorchException.Kind.COMPRESSED_ENTRY, z.kind());
        assertTrue(z.getMessage().contains("entry dtypes/data.pkl is compressed (method 8)"), z.getMessage());
        PyTorchException legacy = assertThrows(PyTorchException.class, () -> MappedCheckpoint.open(Fixtures.pytorch("legacy.bin")));
        assertEquals(PyTorchException.Kind.LEGACY_FORMAT, legacy.kind());
        assertTrue(legacy.getMessage().contains("torch.save(torch.load('legacy.bin', weights_only=True), 'pytorch_model.bin')"), legacy.getMessage());
        PyTorchException evil = assertThrows(PyTorchException.class, () -> MappedCheckpoint.open(Fixtures.pytorch("os-system.bin")));
        assertEquals(PyTorchException.Kind.FORBIDDEN_GLOBAL, evil.kind());
        assertTrue(evil.getMessage().contains("global posix.system"), evil.getMessage());
    }

    @Test
    void tinyGpt2BinHoldsTheSafetensorsBytes() throws Exception {
        Path dir = Fixtures.pytorch("tiny-gpt2");
        try (MappedCheckpoint bin = MappedCheckpoint.open(dir.resolve("pytorch_model.bin"));
             MappedCheckpoint st = MappedCheckpoint.open(dir.resolve("model.safetensors"))) {
            assertEquals(st.tensors().size() + 3, bin.tensors().size(), "plus lm_head.weight and two masked_bias");
            for (TensorInfo t : st.tensors()) {
                TensorInfo b = bin.info("transformer." + t.name());
                assertEquals(t.dtype(), b.dtype(), t.name());
                assertArrayEquals(t.shape(), b.shape(), t.name());
                assertEquals(-1, st.segment(t).mismatch(bin.segment(b)), t.name());
            }
            assertEquals(bin.fileOffset(bin.info("transformer.wte.weight")), bin.fileOffset(bin.info("lm_head.weight")));
            assertTrue(Files.size(dir.resolve("pytorch_model.bin")) > 0);
        }
    }
}
