package io.headscan.format;

import static io.headscan.format.PyTorchException.Kind.*;
import static org.junit.jupiter.api.Assertions.*;

import io.headscan.format.PyTorchZipWriter.PickleWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile and damaged PyTorch checkpoints: each one is refused with its own named error, and nothing the pickle
 * names is ever run (the os.system case would create a marker file).
 */
class PyTorchHostileTest {

    @TempDir
    Path dir;

    /** A one-tensor checkpoint's entries whose data.pkl the test writes. */
    private Path checkpoint(Consumer<PickleWriter> pickle, Map<String, byte[]> more) throws IOException {
        PickleWriter p = new PickleWriter().proto(2);
        pickle.accept(p);
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put("archive/data.pkl", p.stop().bytes());
        entries.putAll(more);
        entries.put("archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        Path f = dir.resolve("m" + System.nanoTime() + ".bin");
        PyTorchZipWriter.writeRaw(f, entries, true, false);
        return f;
    }

    private PyTorchException refused(Path f, PyTorchException.Kind kind, String... phrases) {
        PyTorchException e = assertThrows(PyTorchException.class, () -> MappedCheckpoint.open(f).close());
        assertEquals(kind, e.kind(), e.getMessage());
        assertTrue(e.getMessage().startsWith(f.toString()), "names the file: " + e.getMessage());
        for (String s : phrases) assertTrue(e.getMessage().contains(s), "'" + s + "' in: " + e.getMessage());
        assertTrue(e.getMessage().chars().noneMatch(Character::isISOControl), "one line: " + e.getMessage());
        return e;
    }

    private static Map<String, byte[]> floats(String key, int n) {
        return Map.of("archive/data/" + key, new byte[4 * n]);
    }

    /** _rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict()). */
    private static void tensor(PickleWriter p, String key, long numel, long offset, long[] size, long[] stride) {
        p.global("torch._utils", "_rebuild_tensor_v2").mark();
        p.mark().unicode("storage").global("torch", "FloatStorage").unicode(key).unicode("cpu").integer(numel).tuple().binpersid();
        p.integer(offset).mark();
        for (long s : size) p.integer(s);
        p.tuple().mark();
        for (long s : stride) p.integer(s);
        p.tuple().bool(false).global("collections", "OrderedDict").emptyTuple().reduce().tuple().reduce();
    }

    private static void stateDict(PickleWriter p, String name, Consumer<PickleWriter> value) {
        p.global("collections", "OrderedDict").emptyTuple().reduce().mark().unicode(name);
        value.accept(p);
        p.setItems();
    }

    @Test
    void aWellFormedOneTensorFileReads() throws IOException {
        Path f = checkpoint(p -> stateDict(p, "w", q -> tensor(q, "0", 6, 0, new long[] {2, 3}, new long[] {3, 1})), floats("0", 6));
        try (MappedCheckpoint c = MappedCheckpoint.open(f)) {
            assertArrayEquals(new long[] {2, 3}, c.info("w").shape());
            assertEquals(24, c.segment("w").byteSize());
        }
    }

    @Test
    void globalsOutsideTheAllowListAreNamedAndNeverRun() throws IOException {
        Path marker = dir.resolve("ran");
        Path f = checkpoint(p -> p.global("os", "system").mark().unicode("touch " + marker).tuple().reduce(), Map.of());
        refused(f, FORBIDDEN_GLOBAL, "global os.system", "nothing was run");
        assertFalse(Files.exists(marker));
        refused(checkpoint(p -> p.global("builtins", "eval").mark().unicode("1+1").tuple().reduce(), Map.of()), FORBIDDEN_GLOBAL, "builtins.eval");
        refused(checkpoint(p -> p.global("subprocess", "Popen").mark().unicode("ls").tuple().reduce(), Map.of()), FORBIDDEN_GLOBAL, "subprocess.Popen");
        // the protocol-4 spelling: module and name as strings, then STACK_GLOBAL
        refused(checkpoint(p -> p.unicode("builtins").unicode("eval").op(0x93), Map.of()), FORBIDDEN_GLOBAL, "builtins.eval");
        // a name that looks like an allowed one is not
        refused(checkpoint(p -> p.global("torch._utils", "_rebuild_tensor_v9"), Map.of()), FORBIDDEN_GLOBAL, "torch._utils._rebuild_tensor_v9");
    }

    @Test
    void callsOfAnythingButTheRebuildFunctionsAreRefused() throws IOException {
        refused(checkpoint(p -> p.global("torch", "FloatStorage").emptyTuple().reduce(), Map.of()), FORBIDDEN_CALL, "call of torch.FloatStorage");
        refused(checkpoint(p -> p.unicode("print").emptyTuple().reduce(), Map.of()), FORBIDDEN_CALL, "call of the string 'print'");
        refused(checkpoint(p -> p.global("torch", "float32").emptyTuple().op(0x81), Map.of()), FORBIDDEN_CALL, "torch.float32");
        refused(checkpoint(p -> p.emptyList().emptyDict().build(), Map.of()), FORBIDDEN_CALL, "BUILD of a list");
        refused(checkpoint(p -> p.global("collections", "OrderedDict").emptyTuple().reduce()
                .emptyDict().unicode("__setstate__").integer(1).setItem().build(), Map.of()), FORBIDDEN_CALL, "BUILD of an OrderedDict");
    }

    @Test
    void opcodesOutsideTheListAreRefusedByName() throws IOException {
        refused(checkpoint(p -> p.op('i').raw("os\nsystem\n".getBytes(StandardCharsets.US_ASCII)), Map.of()), FORBIDDEN_OPCODE, "INST (0x69)");
        refused(checkpoint(p -> p.op(0x82).op(1), Map.of()), FORBIDDEN_OPCODE, "EXT1");
        refused(checkpoint(p -> p.op('S').raw("'x'\n".getBytes(StandardCharsets.US_ASCII)), Map.of()), FORBIDDEN_OPCODE, "STRING");
    }

    @Test
    void hugeLengthsDeepNestingAndMemoAbuseAreBounded() throws IOException {
        byte[] huge = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0x7ffffff0).array();
        refused(checkpoint(p -> p.op('X').raw(huge), Map.of()), PICKLE_LIMIT, "runs past the end");
        byte[] huge8 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 62).array();
        refused(checkpoint(p -> p.op(0x8d).raw(huge8), Map.of()), PICKLE_LIMIT);
        refused(checkpoint(p -> {
            p.none();
            for (int i = 0; i < 500; i++) p.op(0x85);   // TUPLE1 of TUPLE1 of ...
        }, Map.of()), PICKLE_LIMIT, "nesting deeper than 100");
        refused(checkpoint(p -> {
            for (int i = 0; i < 500; i++) p.mark();
        }, Map.of()), PICKLE_LIMIT, "nested MARKs");
        refused(checkpoint(p -> {
            p.emptyList();
            for (int i = 0; i < 300; i++) p.emptyList().append();   // one list, nested through APPEND
            p.emptyList();
            for (int i = 0; i < 300; i++) { p.op(0x85); }
        }, Map.of()), PICKLE_LIMIT, "nesting deeper than 100");
        refused(checkpoint(p -> p.none().op('r').raw(huge).get(12345), Map.of()), INVALID_PICKLE, "memo key 12345");
        refused(checkpoint(p -> {
            p.none();
            for (int i = 0; i <= StrictUnpickler.MAX_MEMO; i++) p.op('r').raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(i).array());
        }, Map.of()), PICKLE_LIMIT, "memo entries");
        refused(checkpoint(p -> p.none().none(), Map.of()), INVALID_PICKLE, "STOP");
        refused(checkpoint(p -> p.op('a'), Map.of()), INVALID_PICKLE, "stack");
    }

    /** A module name of 2 MiB (STACK_GLOBAL takes any string) must not make a 2 MiB error line or errors-table row. */
    @Test
    void namesFromTheFileAreBoundedInLengthAndTheirTextDirectionIsEscaped() throws IOException {
        String huge = "A".repeat(2 << 20);
        PyTorchException e = refused(checkpoint(p -> p.unicode(huge).unicode("x").op(0x93), Map.of()), FORBIDDEN_GLOBAL, "global AAAA", "...");
        assertTrue(e.getMessage().length() < 2 * io.headscan.format.Printable.LINE, e.getMessage().length() + " characters");
        // U+202E shows the rest of a line reversed: a name must not be able to disguise the message after it
        refused(checkpoint(p -> p.unicode("os\u202esystem").unicode("x").op(0x93), Map.of()), FORBIDDEN_GLOBAL, "os\\u202esystem");
    }

    @Test
    void namesFromTheFileAreShownOnOneLine() throws IOException {
        // a tensor name with a carriage return and a line break would otherwise split, or overwrite, the error line
        refused(checkpoint(p -> stateDict(p, "w\r\nheadscan: all good", q -> tensor(q, "0", 6, 0, new long[] {3, 2}, new long[] {1, 3})),
                floats("0", 6)), UNSUPPORTED_TENSOR, "tensor w\\u000d\\u000aheadscan: all good has strides [1, 3]");
    }

    @Test
    void tensorsMustFitTheirStorageAndBeContiguous() throws IOException {
        refused(checkpoint(p -> stateDict(p, "w", q -> tensor(q, "0", 6, 0, new long[] {3, 2}, new long[] {1, 3})), floats("0", 6)),
                UNSUPPORTED_TENSOR, "tensor w has strides [1, 3]", "not contiguous");
        refused(checkpoint(p -> stateDict(p, "w", q -> tensor(q, "0", 6, 4, new long[] {2, 2}, new long[] {2, 1})), floats("0", 6)),
                INVALID_TENSOR, "tensor w: elements [4, +4) run past its storage");
        refused(checkpoint(p -> stateDict(p, "w", q -> tensor(q, "0", 8, 0, new long[] {2}, new long[] {1})), floats("0", 6)),
                INVALID_TENSOR, "holds 24 bytes", "declares 8 x 4 bytes");
        refused(checkpoint(p -> stateDict(p, "w", q -> tensor(q, "7", 6, 0, new long[] {6}, new long[] {1})), floats("0", 6)),
                MISSING_RECORD, "archive/data/7");
        refused(checkpoint(p -> stateDict(p, "w", q -> tensor(q, "../../etc", 6, 0, new long[] {6}, new long[] {1})), floats("0", 6)),
                INVALID_PICKLE, "not a plain name");
        refused(checkpoint(p -> p.emptyList(), Map.of()), NOT_A_STATE_DICT, "holds a list");
    }

    @Test
    void damagedZipContainersAreNamed() throws IOException {
        Path none = dir.resolve("no-pickle.bin");
        PyTorchZipWriter.writeRaw(none, Map.of("archive/version", "3\n".getBytes(StandardCharsets.US_ASCII)), false, false);
        refused(none, MISSING_RECORD, "no archive/data.pkl");

        Path good = checkpoint(p -> stateDict(p, "w", q -> tensor(q, "0", 6, 0, new long[] {6}, new long[] {1})), floats("0", 6));
        byte[] b = Files.readAllBytes(good);
        Path cut = dir.resolve("cut.bin");
        Files.write(cut, java.util.Arrays.copyOf(b, b.length - 30));
        refused(cut, NOT_A_ZIP, "no end-of-central-directory record");

        // a plain (non-ZIP64) archive whose central directory is patched: method, offsets, sizes
        Path plain = dir.resolve("plain.bin");
        Map<String, byte[]> e = new LinkedHashMap<>();
        e.put("archive/data.pkl", new PickleWriter().proto(2).emptyDict().stop().bytes());
        e.put("archive/data/0", new byte[64]);
        PyTorchZipWriter.writeRaw(plain, e, false, true);
        byte[] z = Files.readAllBytes(plain);
        int cd = indexOf(z, new byte[] {0x50, 0x4b, 0x01, 0x02}, 0);
        int cd2 = indexOf(z, new byte[] {0x50, 0x4b, 0x01, 0x02}, cd + 4);
        assertTrue(MappedCheckpoint.open(plain).tensors().isEmpty(), "the unpatched archive reads (data descriptors, no ZIP64)");

        byte[] deflated = z.clone();
        le16(deflated, cd2 + 10, 8);
        refused(write("deflated.bin", deflated), COMPRESSED_ENTRY, "entry archive/data/0 is compressed (method 8)");

        byte[] alias = z.clone();
        le32(alias, cd2 + 42, 0);   // second entry's local header = the first's, which names the first entry
        refused(write("alias.bin", alias), LOCAL_HEADER_MISMATCH, "entry archive/data/0: its local header at byte 0 names another entry");

        byte[] overlap = z.clone();
        int pklSize = new PickleWriter().proto(2).emptyDict().stop().bytes().length;
        le32(overlap, cd + 20, pklSize + 40);   // the first entry's data now runs into the second's local header
        le32(overlap, cd + 24, pklSize + 40);
        refused(write("overlap.bin", overlap), OVERLAPPING_ENTRIES, "overlaps entry");

        byte[] past = z.clone();
        le32(past, cd2 + 20, 1 << 30);
        le32(past, cd2 + 24, 1 << 30);
        refused(write("past.bin", past), ENTRY_OUT_OF_BOUNDS, "entry archive/data/0", "runs past the end");

        byte[] count = z.clone();
        int eocd = indexOf(z, new byte[] {0x50, 0x4b, 0x05, 0x06}, 0);
        le16(count, eocd + 10, 60000);
        refused(write("count.bin", count), INVALID_ZIP, "60000 entries cannot fit");
    }

    @Test
    void twoEntriesOfOneNameAreRefused() throws IOException {
        // a reader that keeps the last of two same-named entries may read other bytes than PyTorch, which keeps the first
        Map<String, byte[]> records = new LinkedHashMap<>();
        records.put("archive/data/0", new byte[24]);
        records.put("archive/data/1", new byte[24]);
        byte[] z = HostileCheckpoints.zip(onlyTensor(), records);
        HostileCheckpoints.rename(z, "archive/data/1", "archive/data/0", true, true);
        refused(write("dup.bin", z), DUPLICATE_ENTRY, "entry archive/data/0 appears twice in the central directory");
        byte[] pkl = HostileCheckpoints.zip(onlyTensor(), Map.of("archive/data/0", new byte[24], "archive/data.pkX", new byte[3]));
        HostileCheckpoints.rename(pkl, "archive/data.pkX", "archive/data.pkl", true, true);
        refused(write("dup-pkl.bin", pkl), DUPLICATE_ENTRY, "entry archive/data.pkl appears twice");
    }

    @Test
    void aLocalHeaderThatNamesAnotherEntryIsRefused() throws IOException {
        byte[] z = HostileCheckpoints.zip(onlyTensor(), Map.of("archive/data/0", new byte[24]));
        HostileCheckpoints.rename(z, "archive/data/0", "archive/data/9", true, false);
        refused(write("local.bin", z), LOCAL_HEADER_MISMATCH, "entry archive/data/0: its local header at byte", "names another entry");
        byte[] method = HostileCheckpoints.zip(onlyTensor(), Map.of("archive/data/0", new byte[24]));
        int local = indexOf(method, "archive/data/0".getBytes(StandardCharsets.US_ASCII), 0) - 30;
        le16(method, local + 8, 8);   // the local header says deflated, the central directory stored
        refused(write("method.bin", method), LOCAL_HEADER_MISMATCH, "local header says method 8, the central directory 0");
    }

    /** One state dict {'w': 6 floats of storage data/0}. */
    private static byte[] onlyTensor() {
        PickleWriter p = new PickleWriter().proto(2);
        stateDict(p, "w", q -> tensor(q, "0", 6, 0, new long[] {6}, new long[] {1}));
        return p.stop().bytes();
    }

    private static byte[] with(byte[] z, long value, int... at) {
        return HostileCheckpoints.with(z, value, at);
    }

    @Test
    void zip64FieldsNearTwoToThe63DoNotWrapPastTheChecks() throws IOException {
        byte[] z = HostileCheckpoints.zip(onlyTensor(), Map.of("archive/data/0", new byte[24]));
        HostileCheckpoints.Zip64Fields f = HostileCheckpoints.Zip64Fields.of(z);
        assertEquals(1, MappedCheckpoint.open(write("ok.bin", z)).tensors().size(), "the unpatched archive reads");
        long big = Long.MAX_VALUE - 9;   // positive, so a check for negative values lets it through; any sum with it wraps
        // offset + size = 2^63: negative, below any file size
        refused(write("cd-wrap.bin", with(with(z, 1L << 62, f.cdOffset()), 1L << 62, f.cdSize())), INVALID_ZIP, "runs past its end record");
        refused(write("cd-offset.bin", with(z, big, f.cdOffset())), INVALID_ZIP, "runs past its end record");
        refused(write("cd-size.bin", with(z, big, f.cdSize())), INVALID_ZIP, "runs past its end record");
        refused(write("record.bin", with(z, big, f.locatorOffset())), INVALID_ZIP, "does not fit before its locator");
        refused(write("count.bin", with(z, big, f.count())), INVALID_ZIP, "entries cannot fit");
        refused(write("local.bin", with(z, big, f.local()[1])), ENTRY_OUT_OF_BOUNDS, "entry archive/data/0: local header at " + big);
        refused(write("size.bin", with(z, big, f.usize()[1], f.csize()[1])), ENTRY_OUT_OF_BOUNDS, "entry archive/data/0: data at");
        refused(write("unsigned.bin", with(z, -5, f.cdOffset())), INVALID_ZIP, "out of range (18446744073709551611)");
    }

    @Test
    void nothingWalksAGraphThatTheMemoMakesExponential() throws IOException {
        // tuples 100 deep, each level holding the one below twice: 2^99 leaves in a few hundred bytes, wherever they go
        refused(write("location.bin", HostileCheckpoints.doublingPickle(100)), INVALID_PICKLE, "location is a tuple of 2, not a string");
        Path value = checkpoint(p -> {
            p.global("collections", "OrderedDict").emptyTuple().reduce().mark().unicode("w");
            tensor(p, "0", 6, 0, new long[] {6}, new long[] {1});
            p.unicode("plain");
            HostileCheckpoints.doubling(p, 100);
            p.setItems();
        }, floats("0", 6));
        try (MappedCheckpoint c = MappedCheckpoint.open(value)) {
            assertEquals(List.of("w"), c.tensors().stream().map(TensorInfo::name).toList(), "a plain value is kept, never looked into");
        }
        Path metadata = checkpoint(p -> {
            p.global("collections", "OrderedDict").emptyTuple().reduce();
            p.emptyDict().unicode("_metadata");
            HostileCheckpoints.doubling(p, 99);
            p.setItem().build();
        }, Map.of());
        try (MappedCheckpoint c = MappedCheckpoint.open(metadata)) {
            assertEquals("yes", c.metadata().get("state_dict_metadata"), "the _metadata value is noted, never looked into");
        }
        refused(checkpoint(p -> HostileCheckpoints.doubling(p, 100), Map.of()), NOT_A_STATE_DICT, "holds a tuple of 2, not a dict");
        refused(checkpoint(p -> {
            p.global("collections", "OrderedDict").mark();
            HostileCheckpoints.doubling(p, 99);
            p.tuple().reduce();
        }, Map.of()), INVALID_PICKLE, "OrderedDict called with arguments");
        refused(checkpoint(p -> {
            p.emptyDict();
            HostileCheckpoints.doubling(p, 99);
            p.integer(1).setItem();
        }, Map.of()), INVALID_PICKLE, "dict key at byte", "is a tuple of 2");
    }

    @Test
    void whatTheMachineKeepsIsBoundedByThePickleWhateverTheMemoShares() throws IOException {
        // one tensor of 64 dimensions, then thousands of entries that each name it again through the memo: every entry
        // costs a few bytes of the pickle but would cost a copy of its shape
        Path shared = checkpoint(p -> {
            p.global("collections", "OrderedDict").emptyTuple().reduce();
            long[] ones = new long[64];
            java.util.Arrays.fill(ones, 1);
            p.mark().unicode("w0");
            tensor(p, "0", 1, 0, ones, ones);
            p.op('q').op(1).setItems();
            for (int i = 1; i < 200_000; i++) p.mark().op(0x8c).op(Integer.toString(i).length()).raw(Integer.toString(i).getBytes(StandardCharsets.US_ASCII)).op('h').op(1).setItems();
        }, floats("0", 1));
        refused(shared, PICKLE_LIMIT, "cells");
        long[] ranks = new long[65];
        java.util.Arrays.fill(ranks, 1);
        refused(checkpoint(p -> stateDict(p, "w", q -> tensor(q, "0", 1, 0, ranks, ranks)), floats("0", 1)), PICKLE_LIMIT, "65 dimensions");
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private static int indexOf(byte[] hay, byte[] needle, int from) {
        outer:
        for (int i = from; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found");
    }

    private static void le16(byte[] b, int at, int v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >> 8);
    }

    private static void le32(byte[] b, int at, int v) {
        le16(b, at, v);
        le16(b, at + 2, v >> 16);
    }
}
