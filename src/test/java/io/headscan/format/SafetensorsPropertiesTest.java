package io.headscan.format;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Properties of the reader and writer over generated files (jqwik: random tensor sets, then random damage to them;
 * a failure is shrunk to a minimal file and mutation): every file the writer makes reads back exactly, and every
 * damaged file either still reads consistently or fails with one of the format's named errors, never anything else.
 */
class SafetensorsPropertiesTest {

    static Path dir;

    @BeforeContainer
    static void makeDir() throws IOException {
        dir = Files.createTempDirectory("safetensors-properties");
    }

    @AfterContainer
    static void removeDir() throws IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    /** A tensor to write: byte-sized dtype, shape with 0 to 3 dimensions (zero-sized ones included), a seed for its bytes. */
    record Spec(String name, DType dtype, long[] shape, byte seed) {
        long bytes() {
            long n = dtype.bytes();
            for (long d : shape) n *= d;
            return n;
        }
    }

    @Provide
    Arbitrary<List<Spec>> tensorSets() {
        Arbitrary<DType> dtypes = Arbitraries.of(java.util.Arrays.stream(DType.values()).filter(DType::byteSized).toList());
        Arbitrary<long[]> shapes = Arbitraries.longs().between(0, 7).array(long[].class).ofMinSize(0).ofMaxSize(3);
        Arbitrary<Spec> spec = Combinators.combine(Arbitraries.strings().withCharRange('a', 'z').withChars('.', '_').ofMinLength(1).ofMaxLength(12),
                dtypes, shapes, Arbitraries.bytes()).as(Spec::new);
        return spec.list().ofMinSize(1).ofMaxSize(6).uniqueElements(Spec::name);
    }

    private static Path write(List<Spec> specs, Map<String, String> metadata) throws IOException {
        SafetensorsWriter w = new SafetensorsWriter();
        metadata.forEach(w::metadata);
        for (Spec s : specs) {
            w.add(s.name(), s.dtype(), s.shape(), seg -> {
                for (long i = 0; i < seg.byteSize(); i++) seg.set(ValueLayout.JAVA_BYTE, i, (byte) (s.seed() + 31 * i));
            });
        }
        Path p = Files.createTempFile(dir, "t", ".safetensors");
        w.write(p);
        return p;
    }

    @Property(tries = 150)
    void whatTheWriterWritesReadsBackExactly(@ForAll("tensorSets") List<Spec> specs,
                                              @ForAll("metadata") Map<String, String> metadata) throws IOException {
        Path p = write(specs, metadata);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(metadata, f.metadata());
            assertEquals(specs.size(), f.tensors().size());
            long covered = 0;
            for (Spec s : specs) {
                TensorInfo t = f.info(s.name());
                assertEquals(s.dtype(), t.dtype());
                assertArrayEquals(s.shape(), t.shape());
                assertEquals(s.bytes(), t.byteSize());
                MemorySegment seg = f.segment(t);
                for (long i = 0; i < seg.byteSize(); i++) assertEquals((byte) (s.seed() + 31 * i), seg.get(ValueLayout.JAVA_BYTE, i));
                covered += t.byteSize();
            }
            assertEquals(f.fileSize() - f.dataStart(), covered, "tensors tile the data section exactly");
        } finally {
            Files.delete(p);
        }
    }

    @Provide
    Arbitrary<Map<String, String>> metadata() {
        Arbitrary<String> s = Arbitraries.strings().ofMaxLength(8);
        return Arbitraries.maps(s.filter(k -> !k.isEmpty()), s).ofMaxSize(3).map(LinkedHashMap::new);
    }

    /** Damage: flip a bit, truncate, rewrite the length prefix, or put a JSON-significant byte into the header. */
    record Mutation(int kind, long position, int bit, long value) {
        byte[] apply(byte[] valid) {
            byte[] m = valid.clone();
            int at = (int) Math.floorMod(position, (long) m.length);
            switch (kind) {
                case 0 -> m[at] ^= (byte) (1 << (bit % 8));
                case 1 -> m = java.util.Arrays.copyOf(m, at);
                case 2 -> {
                    for (int b = 0; b < 8; b++) m[b] = (byte) (value >>> (8 * b));
                }
                default -> {
                    String chars = "{}[]\",:0-9.e \0\\";
                    int h = 8 + (int) Math.floorMod(position, (long) Math.max(1, Math.min(m.length - 8, 200)));
                    if (h < m.length) m[h] = (byte) chars.charAt(bit % chars.length());
                }
            }
            return m;
        }
    }

    @Provide
    Arbitrary<Mutation> mutations() {
        return Combinators.combine(Arbitraries.integers().between(0, 3), Arbitraries.longs().between(0, 4096), Arbitraries.integers().between(0, 15),
                Arbitraries.oneOf(Arbitraries.longs(), Arbitraries.longs().between(0, 600))).as(Mutation::new);
    }

    @Property(tries = 400)
    void damagedFilesReadConsistentlyOrFailWithANamedError(@ForAll("tensorSets") List<Spec> specs, @ForAll("mutations") Mutation mutation)
            throws IOException {
        Path valid = write(specs, Map.of("format", "pt"));
        byte[] bytes = mutation.apply(Files.readAllBytes(valid));
        Path q = Files.createTempFile(dir, "m", ".safetensors");
        Files.write(q, bytes);
        try (SafetensorsFile f = SafetensorsFile.open(q)) {
            List<Long> ends = new ArrayList<>();
            for (TensorInfo t : f.tensors()) {
                assertEquals(t.byteSize(), f.segment(t).byteSize());
                ends.add(t.end());
            }
            assertTrue(f.dataStart() + (ends.isEmpty() ? 0 : java.util.Collections.max(ends)) <= f.fileSize());
        } catch (SafetensorsException e) {
            assertNotEquals(SafetensorsException.Kind.IO, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains(q.toString()), "the error names the file: " + e.getMessage());
        } finally {
            Files.delete(valid);
            Files.delete(q);
        }
    }
}
