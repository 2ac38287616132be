package io.headscan.format;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Damaged PyTorch checkpoints (jqwik: random tensor sets written by {@link PyTorchZipWriter}, in every ZIP variant,
 * then random damage): opening one either reads consistently (every tensor inside the file) or fails with a named
 * {@link PyTorchException} or {@link SafetensorsException}; never another exception or a JVM crash, and the reader
 * allocates no more heap than a small multiple of the file's size.
 */
class PyTorchPropertiesTest {

    static Path dir;

    @BeforeContainer
    static void makeDir() throws IOException {
        dir = Files.createTempDirectory("pytorch-properties");
        // class initialisation (Jackson, the readers' error paths) is paid once here, not counted as a file's allocation
        Path junk = dir.resolve("warm.bin");
        Files.write(junk, new byte[] {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '});
        MappedCheckpoint.open(junk).close();
        Files.write(junk, "not a checkpoint at all".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        assertThrows(SafetensorsException.class, () -> MappedCheckpoint.open(junk));
        Files.delete(junk);
    }

    @AfterContainer
    static void removeDir() throws IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    record Spec(String name, DType dtype, long[] shape, boolean tieToFirst) {}

    @Provide
    Arbitrary<List<Spec>> tensorSets() {
        Arbitrary<DType> dtypes = Arbitraries.of(DType.F32, DType.F16, DType.BF16, DType.U8, DType.I64, DType.BOOL);
        Arbitrary<long[]> shapes = Arbitraries.longs().between(0, 6).array(long[].class).ofMinSize(0).ofMaxSize(3);
        return Combinators.combine(Arbitraries.strings().withCharRange('a', 'z').withChars('.').ofMinLength(1).ofMaxLength(10),
                dtypes, shapes, Arbitraries.of(false, false, true)).as(Spec::new).list().ofMinSize(1).ofMaxSize(5).uniqueElements(Spec::name);
    }

    private static Path write(List<Spec> specs, int variant) throws IOException {
        PyTorchZipWriter w = new PyTorchZipWriter().zip64((variant & 1) == 0).dataDescriptors((variant & 2) != 0)
                .pointerKeys((variant & 4) != 0).byteorderRecord((variant & 4) == 0).folder(variant % 3 == 0 ? "archive" : "new");
        String first = null;
        for (Spec s : specs) {
            if (s.tieToFirst() && first != null) {
                w.tie(s.name(), first);
                continue;
            }
            long n = s.dtype().bytes();
            for (long d : s.shape()) n *= d;
            byte[] b = new byte[(int) n];
            for (int i = 0; i < b.length; i++) b[i] = (byte) (i * 31 + s.name().length());
            w.add(s.name(), s.dtype(), s.shape(), MemorySegment.ofArray(b));
            if (first == null) first = s.name();
        }
        Path p = Files.createTempFile(dir, "t", ".bin");
        w.write(p);
        return p;
    }

    @Property(tries = 100)
    void whatTheWriterWritesReadsBack(@ForAll("tensorSets") List<Spec> specs, @ForAll("variants") int variant) throws IOException {
        Path p = write(specs, variant);
        try (MappedCheckpoint c = MappedCheckpoint.open(p)) {
            assertEquals(specs.stream().map(Spec::name).toList(), c.tensors().stream().map(TensorInfo::name).toList());
            for (TensorInfo t : c.tensors()) {
                MemorySegment seg = c.segment(t);
                String owner = specs.stream().filter(s -> s.name().equals(t.name())).findFirst().orElseThrow().tieToFirst()
                        && !specs.getFirst().name().equals(t.name()) ? specs.getFirst().name() : t.name();
                for (long i = 0; i < seg.byteSize(); i++) assertEquals((byte) (i * 31 + owner.length()), seg.get(ValueLayout.JAVA_BYTE, i));
            }
        } finally {
            Files.delete(p);
        }
    }

    @Provide
    Arbitrary<Integer> variants() {
        return Arbitraries.integers().between(0, 7);
    }

    /** Damage: flip a bit, truncate, overwrite 4 bytes with a large or small number, or cut a slice out. */
    record Mutation(int kind, long position, int bit, int value) {
        byte[] apply(byte[] valid) {
            byte[] m = valid.clone();
            int at = (int) Math.floorMod(position, (long) m.length);
            switch (kind) {
                case 0 -> m[at] ^= (byte) (1 << (bit % 8));
                case 1 -> m = java.util.Arrays.copyOf(m, at);
                case 2 -> {
                    for (int b = 0; b < 4 && at + b < m.length; b++) m[at + b] = (byte) (value >>> (8 * b));
                }
                default -> {
                    int len = Math.min(1 + bit * 7, m.length - at);
                    byte[] out = new byte[m.length - len];
                    System.arraycopy(m, 0, out, 0, at);
                    System.arraycopy(m, at + len, out, at, m.length - at - len);
                    m = out;
                }
            }
            return m;
        }
    }

    @Provide
    Arbitrary<Mutation> mutations() {
        return Combinators.combine(Arbitraries.integers().between(0, 3), Arbitraries.longs().between(0, 1 << 16), Arbitraries.integers().between(0, 15),
                Arbitraries.oneOf(Arbitraries.integers(), Arbitraries.integers().between(0, 300), Arbitraries.just(-1))).as(Mutation::new);
    }

    @Property(tries = 500)
    void damagedFilesReadConsistentlyOrFailWithANamedError(@ForAll("tensorSets") List<Spec> specs, @ForAll("variants") int variant,
                                                           @ForAll("mutations") Mutation mutation) throws IOException {
        Path valid = write(specs, variant);
        byte[] bytes = mutation.apply(Files.readAllBytes(valid));
        Path q = Files.createTempFile(dir, "m", ".bin");
        Files.write(q, bytes);
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        try (MappedCheckpoint c = MappedCheckpoint.open(q)) {
            for (TensorInfo t : c.tensors()) {
                MemorySegment seg = c.segment(t);
                assertEquals(t.byteSize(), seg.byteSize());
                assertTrue(c.fileOffset(t) >= 0 && c.fileOffset(t) + t.byteSize() <= c.fileSize(), t.name());
                if (seg.byteSize() > 0) seg.get(ValueLayout.JAVA_BYTE, seg.byteSize() - 1);
            }
        } catch (PyTorchException e) {
            assertNotEquals(PyTorchException.Kind.IO, e.kind(), e.getMessage());
            assertTrue(e.getMessage().startsWith(q.toString()), "the error names the file: " + e.getMessage());
        } catch (SafetensorsException e) {   // a first byte damaged so that the file no longer looks like a ZIP
            assertTrue(e.getMessage().startsWith(q.toString()), e.getMessage());
        } finally {
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertTrue(allocated < (4 << 20) + 64L * bytes.length, allocated + " bytes allocated for a " + bytes.length + "-byte file");
            Files.delete(valid);
            Files.delete(q);
        }
    }
}
