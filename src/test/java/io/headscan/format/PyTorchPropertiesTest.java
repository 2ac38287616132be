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
 * then random damage; ZIP64 archives whose 64-bit fields are set near 2^63; pickles whose memo shares tuples,
 * nested and aliased until they describe graphs of up to 3^110 nodes, placed wherever a pickle can put them): opening
 * one either reads consistently (every tensor inside the file) or fails with a named {@link PyTorchException} or
 * {@link SafetensorsException}; never another exception or a JVM crash, and the reader allocates no more heap than a
 * small multiple of the file's size.
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

    /** A 64-bit field of a ZIP64 archive: which one, and for the per-entry fields which entry. */
    record Field64(int which, int entry) {
        int[] positions(HostileCheckpoints.Zip64Fields f) {
            int e = Math.floorMod(entry, f.usize().length);
            return switch (which) {
                case 0 -> new int[] {f.locatorOffset()};
                case 1 -> new int[] {f.count()};
                case 2 -> new int[] {f.cdSize()};
                case 3 -> new int[] {f.cdOffset()};
                case 4 -> new int[] {f.local()[e]};
                case 5 -> new int[] {f.usize()[e], f.csize()[e]};   // a stored entry's two sizes, set alike
                case 6 -> new int[] {f.usize()[e]};
                default -> new int[] {f.cdOffset(), f.cdSize()};    // offset and size together: their sum may wrap
            };
        }
    }

    @Provide
    Arbitrary<Field64> fields64() {
        return Combinators.combine(Arbitraries.integers().between(0, 7), Arbitraries.integers().between(0, 100)).as(Field64::new);
    }

    /** Values where sums wrap: just below 2^63, around 2^62, all ones in 32 bits, small ones near the file, any. */
    @Provide
    Arbitrary<Long> near63() {
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(4, Arbitraries.longs().between(0, 1 << 20).map(d -> Long.MAX_VALUE - d)),
                net.jqwik.api.Tuple.of(3, Arbitraries.longs().between(-(1 << 20), 1 << 20).map(d -> (1L << 62) + d)),
                net.jqwik.api.Tuple.of(1, Arbitraries.longs().between(0, 64).map(d -> 0xffffffffL - 32 + d)),
                net.jqwik.api.Tuple.of(2, Arbitraries.longs().between(0, 1 << 14)),
                net.jqwik.api.Tuple.of(1, Arbitraries.longs()));
    }

    @Property(tries = 300)
    void zip64FieldsNearTwoToThe63ReadConsistentlyOrFailNamed(@ForAll("tensorSets") List<Spec> specs, @ForAll("variants") int variant,
                                                               @ForAll("fields64") Field64 field, @ForAll("near63") long value) throws IOException {
        Path valid = write(specs, variant & ~1);   // even variants: ZIP64 records and extra fields
        byte[] bytes = Files.readAllBytes(valid);
        byte[] damaged = HostileCheckpoints.with(bytes, value, field.positions(HostileCheckpoints.Zip64Fields.of(bytes)));
        Path q = Files.createTempFile(dir, "z", ".bin");
        Files.write(q, damaged);
        try {
            openBounded(q, damaged.length, PyTorchException.class);
        } finally {
            Files.delete(valid);
            Files.delete(q);
        }
    }

    /**
     * A pickle built to be huge when walked: a tuple {@code depth} levels deep, each level {@code arity} references to
     * the one below through one memo slot, put at {@code place}; and a tensor of {@code rank} dimensions named again by
     * {@code aliases} more entries through the memo.
     */
    record Aliased(int depth, int arity, int place, int rank, int aliases) {
        byte[] pickle() {
            PyTorchZipWriter.PickleWriter p = new PyTorchZipWriter.PickleWriter().proto(2);
            switch (place) {
                case 5 -> graph(p);   // the whole pickle
                case 6 -> {           // OrderedDict's arguments
                    p.global("collections", "OrderedDict").mark();
                    graph(p);
                    p.tuple().reduce();
                }
                default -> {
                    p.global("collections", "OrderedDict").emptyTuple().reduce();
                    if (place == 3) {   // the state dict's _metadata
                        p.emptyDict().unicode("_metadata");
                        graph(p);
                        p.setItem().build();
                    }
                    p.mark();
                    if (place == 4) graph(p);   // a key
                    else p.unicode("w");
                    tensor(p);
                    p.op('q').op(1);
                    if (place == 0) {   // a plain value beside the tensors
                        p.unicode("plain");
                        graph(p);
                    }
                    p.setItems();
                    for (int i = 0; i < aliases; i++) {
                        byte[] key = ("w" + i).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
                        p.op(0x8c).op(key.length).raw(key).op('h').op(1).setItem();
                    }
                }
            }
            return p.stop().bytes();
        }

        private void tensor(PyTorchZipWriter.PickleWriter p) {
            p.global("torch._utils", "_rebuild_tensor_v2").mark();
            p.mark().unicode("storage").global("torch", "FloatStorage").unicode("0");
            if (place == 1) graph(p);   // the persistent id's location
            else p.unicode("cpu");
            p.integer(1).tuple().binpersid().integer(0);
            for (int k = 0; k < 2; k++) {   // size, then stride: all ones
                p.mark();
                for (int i = 0; i < rank; i++) p.integer(1);
                p.tuple();
            }
            p.bool(false);
            if (place == 2) graph(p);   // backward_hooks, which headscan does not use
            else p.global("collections", "OrderedDict").emptyTuple().reduce();
            p.tuple().reduce();
        }

        private void graph(PyTorchZipWriter.PickleWriter p) {
            p.none();
            for (int i = 1; i < depth; i++) {
                p.op('q').op(200);   // the level below stays on the stack: it is the tuple's first item
                for (int k = 1; k < arity; k++) p.op('h').op(200);
                p.op(arity == 1 ? 0x85 : arity == 2 ? 0x86 : 0x87);
            }
        }
    }

    @Provide
    Arbitrary<Aliased> aliasedPickles() {
        return Combinators.combine(Arbitraries.integers().between(1, 110), Arbitraries.integers().between(1, 3), Arbitraries.integers().between(0, 6),
                Arbitraries.integers().between(0, 70), Arbitraries.integers().between(0, 4000)).as(Aliased::new);
    }

    @Property(tries = 200)
    void memoSharedAndAliasedGraphsAreNeverWalked(@ForAll("aliasedPickles") Aliased a) throws IOException {
        byte[] z = HostileCheckpoints.zip(a.pickle(), java.util.Map.of("archive/data/0", new byte[4]));
        Path q = Files.createTempFile(dir, "p", ".bin");
        Files.write(q, z);
        try {
            openBounded(q, z.length, PyTorchException.class);
        } finally {
            Files.delete(q);
        }
    }

    /**
     * Opens a file that either reads consistently or fails with a named error of the expected family (never the I/O
     * kind: the file is there), allocating at most 8 MiB plus 128 bytes per byte of the file on this thread.
     */
    private static void openBounded(Path q, long size, Class<? extends CheckpointFormatException> named) {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        String outcome = "reads";
        try (MappedCheckpoint c = MappedCheckpoint.open(q)) {
            for (TensorInfo t : c.tensors()) {
                MemorySegment seg = c.segment(t);
                assertEquals(t.byteSize(), seg.byteSize());
                assertTrue(c.fileOffset(t) >= 0 && c.fileOffset(t) + t.byteSize() <= c.fileSize(), t.name());
            }
        } catch (CheckpointFormatException e) {
            outcome = e instanceof PyTorchException p ? p.kind().name() : e.getClass().getSimpleName();
            assertTrue(named.isInstance(e), e.getClass().getSimpleName() + ": " + e.getMessage());
            assertFalse(e instanceof PyTorchException p && p.kind() == PyTorchException.Kind.IO, e.getMessage());
            assertTrue(e.getMessage().startsWith(q.toString()), "the error names the file: " + e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        } finally {
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertTrue(allocated < (8 << 20) + 128L * size, allocated + " bytes allocated for a " + size + "-byte file");
            net.jqwik.api.statistics.Statistics.collect(outcome);   // shows in the report that both outcomes are reached
        }
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
