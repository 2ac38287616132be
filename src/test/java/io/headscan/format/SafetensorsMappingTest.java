package io.headscan.format;

import static io.headscan.format.SafetensorsException.Kind.*;
import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.EnumSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The writer round trip, mapped-file lifetimes, and 600 seeded random mutations of one file (generated files and shrinking: SafetensorsPropertiesTest). */
class SafetensorsMappingTest {

    @TempDir
    Path dir;

    private Path sample(String name) throws IOException {
        float[] a = {1f, -2f, 3.5f, Float.NaN, Float.POSITIVE_INFINITY, 0f};
        float[] b = new float[300];
        for (int i = 0; i < b.length; i++) b[i] = i * 0.5f;
        Path p = dir.resolve(name);
        new SafetensorsWriter().metadata("format", "pt")
                .addF32("a", new long[] {2, 3}, a)
                .addF32("b", new long[] {300}, b)
                .add("z", DType.F16, new long[] {0, 4}, seg -> {})
                .write(p);
        return p;
    }

    /**
     * A file whose bytes end before the size it reported when it was opened, as one that shrinks while it is read does:
     * a sysfs attribute reports 4096 bytes and reads one or two. Reading ends at its end with a named error (the read
     * loop of the header length used to spin there forever; the preemptive timeout only bounds a regression).
     */
    @Test
    void aFileEndingBeforeItsReportedSizeIsANamedErrorNotAnEndlessRead() throws Exception {
        Path special = HostileCheckpoints.shortSpecialFile().orElse(null);
        org.junit.jupiter.api.Assumptions.assumeTrue(special != null, "no sysfs attribute shorter than its size on this machine");
        SafetensorsException e = assertTimeoutPreemptively(java.time.Duration.ofMinutes(2), () -> assertThrows(SafetensorsException.class,
                () -> MappedCheckpoint.open(special).close()));
        assertEquals(INVALID_HEADER_LENGTH, e.kind(), e.getMessage());
        assertTrue(e.getMessage().startsWith(special + ": invalid header length: file ended inside the 8-byte header length"), e.getMessage());
    }

    @Test
    void writerRoundTripsValuesShapesAndMetadata() throws IOException {
        Path p = sample("rt.safetensors");
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals("pt", f.metadata().get("format"));
            assertArrayEquals(new long[] {2, 3}, f.info("a").shape());
            assertEquals(DType.F16, f.info("z").dtype());
            MemorySegment s = f.segment("a");
            assertEquals(3.5f, s.getAtIndex(SafetensorsFile.F32_LE, 2));
            assertTrue(Float.isNaN(s.getAtIndex(SafetensorsFile.F32_LE, 3)));
            assertEquals(149.5f, f.segment("b").getAtIndex(SafetensorsFile.F32_LE, 299));
            assertEquals(0, f.headerLength() % 8, "header padded to 8 bytes");
        }
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temp file left behind");
        }
    }

    @Test
    void fileTruncatedAtRestFailsAtOpen() throws IOException {
        Path p = sample("trunc.safetensors");
        long size = Files.size(p);
        for (int cut : new int[] {1, 2, 3, 4, 17, 100}) {
            Path q = dir.resolve("cut" + cut + ".safetensors");
            Files.copy(p, q);
            try (FileChannel ch = FileChannel.open(q, StandardOpenOption.WRITE)) {
                ch.truncate(size - cut);
            }
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(q));
            assertEquals(FILE_SIZE_MISMATCH, e.kind());
            assertTrue(e.getMessage().contains(cut + " bytes missing"), e.getMessage());
        }
    }

    @Test
    void useAfterCloseIsAClearError() throws IOException {
        SafetensorsFile f = SafetensorsFile.open(sample("closed.safetensors"));
        MemorySegment s = f.segment("b");
        f.close();
        f.close(); // idempotent
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.segment("a"));
        assertEquals(CLOSED, e.kind());
        IllegalStateException raw = assertThrows(IllegalStateException.class, () -> s.getAtIndex(SafetensorsFile.F32_LE, 0));
        assertEquals(CLOSED, SafetensorsFile.translate(raw, f.path()).kind());
    }

    @Test
    void truncationWhileMappedBecomesANamedError() throws IOException {
        Path p = dir.resolve("big.safetensors");
        float[] big = new float[1 << 16];
        new SafetensorsWriter().addF32("w", new long[] {big.length}, big).write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            MemorySegment s = f.segment("w");
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
                ch.truncate(64);
            }
            Throwable t = assertThrows(Throwable.class, () -> s.getAtIndex(SafetensorsFile.F32_LE, big.length - 1));
            SafetensorsException e = SafetensorsFile.translate(t, p);
            assertNotNull(e, "translated: " + t);
            assertEquals(CHANGED_WHILE_MAPPED, e.kind());
        }
    }

    /** Valid files mutated by bit flips, truncations and length edits fail only with documented errors. */
    @Test
    void mutatedFilesFailOnlyWithNamedErrors() throws IOException {
        byte[] valid = Files.readAllBytes(sample("valid.safetensors"));
        Set<SafetensorsException.Kind> seen = EnumSet.noneOf(SafetensorsException.Kind.class);
        Random rnd = new Random(42);
        Path q = dir.resolve("mutant.safetensors");
        int accepted = 0;
        for (int trial = 0; trial < 600; trial++) {
            byte[] m = valid.clone();
            switch (trial % 4) {
                case 0 -> { // flip a bit in the length prefix or the header
                    int i = rnd.nextInt(Math.min(m.length, 8 + 200));
                    m[i] ^= (byte) (1 << rnd.nextInt(8));
                }
                case 1 -> m = java.util.Arrays.copyOf(m, rnd.nextInt(m.length)); // truncate
                case 2 -> { // edit the length prefix
                    long n = rnd.nextBoolean() ? rnd.nextLong() : rnd.nextInt(400);
                    for (int b = 0; b < 8; b++) m[b] = (byte) (n >>> (8 * b));
                }
                default -> { // overwrite a header byte with a JSON-significant character
                    int i = 8 + rnd.nextInt(150);
                    String chars = "{}[]\",:0-9.e \0";
                    m[i] = (byte) chars.charAt(rnd.nextInt(chars.length()));
                }
            }
            Files.write(q, m);
            try (SafetensorsFile f = SafetensorsFile.open(q)) {
                accepted++;
                for (TensorInfo t : f.tensors()) assertEquals(t.byteSize(), f.segment(t).byteSize());
            } catch (SafetensorsException e) {
                seen.add(e.kind());
                assertNotEquals(IO, e.kind(), e.getMessage());
            }
        }
        assertTrue(seen.size() >= 6, "several distinct named errors: " + seen);
        assertTrue(accepted < 600);
    }
}
