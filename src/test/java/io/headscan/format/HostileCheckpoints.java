package io.headscan.format;

import io.headscan.format.PyTorchZipWriter.PickleWriter;
import io.headscan.model.Dims;
import io.headscan.synth.SyntheticGpt2;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Damaged and hostile checkpoints as real files on disk, one of each kind the parsers must refuse, for the tests that
 * open them in-process and those that run the CLI on them in child JVMs. Each is a file or a folder that a command
 * takes as MODEL, with a phrase the one-line error must contain.
 */
public final class HostileCheckpoints {

    private HostileCheckpoints() {}

    /** A checkpoint to refuse: what it is, where it is, and a phrase of its one-line error. */
    public record Case(String name, Path model, String phrase) {
        @Override
        public String toString() {
            return name;
        }
    }

    /** A small GPT-2 layout, as used by every folder case. */
    static final Dims DIMS = new Dims(64, 16, 2, 2, 64, 8);

    /** Writes every case under {@code dir}; about 31 MB, most of it the one whose header exceeds a 32 MiB heap. */
    public static List<Case> write(Path dir) throws IOException {
        Files.createDirectories(dir);
        Path good = dir.resolve("good");
        new SyntheticGpt2(DIMS, 7, List.of()).write(good, 1);
        Path goodBin = dir.resolve("good-bin");
        new SyntheticGpt2(DIMS, 7, List.of()).asPyTorch(true).write(goodBin, 1);
        byte[] bin = Files.readAllBytes(goodBin.resolve("pytorch_model.bin"));

        List<Case> out = new ArrayList<>();
        out.add(new Case("doubling pickle", write(dir.resolve("doubling.bin"), doublingPickle(100)), "location is a tuple of 2, not a string"));
        out.add(new Case("ZIP64 count and offsets near 2^62", write(dir.resolve("zip64-wrap.bin"), zip64Wrap()), "runs past its end record"));
        out.add(new Case("index naming itself", index(dir.resolve("self"), good, "model.safetensors.index.json", "model.safetensors.index.json"),
                "shard index names itself"));
        Path cycle = index(dir.resolve("cycle"), good, "model.safetensors.index.json", "pytorch_model.bin.index.json");
        index(cycle, good, "pytorch_model.bin.index.json", "model.safetensors.index.json");
        out.add(new Case("two indexes naming each other", cycle, "shard is not a weights file"));
        Path spaced = index(dir.resolve("spaced"), good, "model.safetensors.index.json", "model 00001.safetensors");
        Files.copy(good.resolve("model.safetensors"), spaced.resolve("model 00001.safetensors"));
        out.add(new Case("shard name with a space", spaced, "unsafe shard name"));

        byte[] dup = bin.clone();
        rename(dup, "pytorch_model/data/2", "pytorch_model/data/1", true, true);
        out.add(new Case("duplicate ZIP entry", folder(dir.resolve("duplicate"), goodBin, dup), "duplicate ZIP entry"));
        byte[] local = bin.clone();
        rename(local, "pytorch_model/data/1", "pytorch_model/data/7", true, false);
        out.add(new Case("local header names another entry", folder(dir.resolve("local-name"), goodBin, local), "local header differs from the central directory"));

        out.add(new Case("config.json not JSON", config(dir.resolve("config-text"), good, "{\"n_head\": 2} and then some prose\n"), "config.json: not valid JSON"));
        out.add(new Case("config.json an array", config(dir.resolve("config-array"), good, "[2]\n"), "config.json: not valid JSON"));
        out.add(new Case("config.json nested 10,000 deep", config(dir.resolve("config-deep"), good,
                "{\"n_head\": 2, \"x\": " + "[".repeat(10_000) + "]".repeat(10_000) + "}"), "nested deeper than 64"));
        out.add(new Case("config.json contradicting the weights", config(dir.resolve("config-layers"), good, "{\"n_head\": 2, \"n_layer\": 12}"),
                "n_layer is 12, the weights' layer count is 2"));
        // a FIFO blocks whoever opens it for reading until something writes: refused before any open
        Path fifoWeights = dir.resolve("fifo-weights");
        Files.createDirectories(fifoWeights);
        Files.copy(good.resolve("config.json"), fifoWeights.resolve("config.json"));
        mkfifo(fifoWeights.resolve("model.safetensors"));
        out.add(new Case("weights file a FIFO", fifoWeights, "not a regular file"));
        Path fifoConfig = dir.resolve("fifo-config");
        Files.createDirectories(fifoConfig);
        Files.copy(good.resolve("model.safetensors"), fifoConfig.resolve("model.safetensors"));
        mkfifo(fifoConfig.resolve("config.json"));
        out.add(new Case("config.json a FIFO", fifoConfig, "not a regular file"));
        out.add(new Case("header larger than the heap", write(dir.resolve("huge-header.safetensors"), hugeHeader(30 << 20)), "refused:"));
        return out;
    }

    /**
     * A file whose bytes end before the size it reports, as a file that shrinks while it is read does: a sysfs
     * attribute reports 4096 bytes and reads one or two. Empty on a machine without one.
     */
    public static java.util.Optional<Path> shortSpecialFile() {
        for (String s : List.of("/sys/kernel/mm/transparent_hugepage/use_zero_page", "/sys/kernel/profiling", "/sys/kernel/mm/ksm/run")) {
            Path p = Path.of(s);
            try (var in = Files.newInputStream(p)) {
                if (Files.size(p) >= 8 && in.readNBytes(8).length < 8) return java.util.Optional.of(p);
            } catch (IOException e) {
                // not there or not readable: try the next
            }
        }
        return java.util.Optional.empty();
    }

    private static void mkfifo(Path p) throws IOException {
        try {
            Process mk = new ProcessBuilder("mkfifo", p.toString()).inheritIO().start();
            if (!mk.waitFor(30, java.util.concurrent.TimeUnit.SECONDS) || mk.exitValue() != 0) throw new IOException("mkfifo " + p + " failed");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    private static Path write(Path file, byte[] bytes) throws IOException {
        Files.write(file, bytes);
        return file;
    }

    /** A folder holding good's config.json and these bytes as pytorch_model.bin. */
    private static Path folder(Path dir, Path good, byte[] bin) throws IOException {
        Files.createDirectories(dir);
        Files.copy(good.resolve("config.json"), dir.resolve("config.json"));
        Files.write(dir.resolve("pytorch_model.bin"), bin);
        return dir;
    }

    /** A folder holding good's model.safetensors and this config.json. */
    private static Path config(Path dir, Path good, String json) throws IOException {
        Files.createDirectories(dir);
        Files.copy(good.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        Files.writeString(dir.resolve("config.json"), json);
        return dir;
    }

    /** An index {@code name} in {@code dir} mapping every tensor of good's model to {@code shard}; returns dir. */
    static Path index(Path dir, Path good, String name, String shard) throws IOException {
        Files.createDirectories(dir);
        if (!Files.exists(dir.resolve("config.json"))) Files.copy(good.resolve("config.json"), dir.resolve("config.json"));
        StringBuilder json = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        try (SafetensorsFile f = SafetensorsFile.open(good.resolve("model.safetensors"))) {
            String sep = "";
            for (TensorInfo t : f.tensors()) {
                json.append(sep).append('"').append(t.name()).append("\": \"").append(shard).append('"');
                sep = ", ";
            }
        }
        Files.writeString(dir.resolve(name), json.append("}}"));
        return dir;
    }

    /**
     * A one-tensor state dict whose persistent id's location (a field headscan does not use) is a tuple nested
     * {@code depth} deep in which each level holds the one below twice, through the memo: a few hundred bytes that
     * print as 2^depth leaves.
     */
    static byte[] doublingPickle(int depth) throws IOException {
        PickleWriter p = new PickleWriter().proto(2);
        p.global("collections", "OrderedDict").emptyTuple().reduce().mark().unicode("w");
        p.global("torch._utils", "_rebuild_tensor_v2").mark();
        p.mark().unicode("storage").global("torch", "FloatStorage").unicode("0");
        doubling(p, depth);
        p.integer(6).tuple().binpersid();
        p.integer(0).mark().integer(6).tuple().mark().integer(1).tuple().bool(false).global("collections", "OrderedDict").emptyTuple().reduce()
                .tuple().reduce().setItems();
        return zip(p.stop().bytes(), Map.of("archive/data/0", new byte[24]));
    }

    /** Pushes a tuple {@code depth} levels deep, each level (x, x) of the one below, built through one memo slot. */
    static void doubling(PickleWriter p, int depth) {
        p.none();
        for (int i = 1; i < depth; i++) {
            p.op('q').op(250);            // BINPUT 250: the level below
            p.op('h').op(250).op(0x86);   // BINGET 250, TUPLE2: (x, x)
        }
    }

    /** A stored ZIP of a data.pkl and these records, as the PyTorch writer lays it out. */
    static byte[] zip(byte[] pickle, Map<String, byte[]> records) throws IOException {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put("archive/data.pkl", pickle);
        entries.putAll(records);
        entries.put("archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        Path tmp = Files.createTempFile("hostile", ".bin");
        try {
            PyTorchZipWriter.writeRaw(tmp, entries, true, false);
            return Files.readAllBytes(tmp);
        } finally {
            Files.delete(tmp);
        }
    }

    /**
     * About 100 bytes: a local header signature (so it is taken for a PyTorch ZIP), then a ZIP64 end record claiming
     * 0x7ffffff0 entries in a central directory of 2^62 bytes at offset 2^62: the sum of the two wraps to a negative
     * number, which passes a bound written as a sum, and the count would then size an allocation.
     */
    static byte[] zip64Wrap() {
        ByteBuffer b = ByteBuffer.allocate(4 + 56 + 20 + 22).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0x04034b50);
        int rec = b.position();
        b.putInt(0x06064b50).putLong(44).putShort((short) 45).putShort((short) 45).putInt(0).putInt(0)
                .putLong(0x7ffffff0L).putLong(0x7ffffff0L).putLong(1L << 62).putLong(1L << 62);
        b.putInt(0x07064b50).putInt(0).putLong(rec).putInt(1);
        b.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) 0xffff).putShort((short) 0xffff)
                .putInt(-1).putInt(-1).putShort((short) 0);
        return b.array();
    }

    /** A safetensors file whose JSON header (legal in size: under 100 MB) holds one metadata string of {@code bytes}. */
    static byte[] hugeHeader(int bytes) {
        byte[] pre = "{\"__metadata__\": {\"x\": \"".getBytes(StandardCharsets.US_ASCII), post = "\"}}".getBytes(StandardCharsets.US_ASCII);
        int n = pre.length + bytes + post.length;
        byte[] f = new byte[8 + n];
        ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN).putLong(n);
        System.arraycopy(pre, 0, f, 8, pre.length);
        java.util.Arrays.fill(f, 8 + pre.length, 8 + pre.length + bytes, (byte) 'a');
        System.arraycopy(post, 0, f, 8 + pre.length + bytes, post.length);
        return f;
    }

    /**
     * Renames a ZIP entry in place (names of equal length): in its local header, its central-directory entry, or both.
     * Headers are recognised by their signature and name length just before the name.
     */
    static void rename(byte[] zip, String from, String to, boolean inLocal, boolean inCentral) {
        byte[] a = from.getBytes(StandardCharsets.UTF_8), b = to.getBytes(StandardCharsets.UTF_8);
        if (a.length != b.length) throw new IllegalArgumentException("names of different lengths");
        ByteBuffer le = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
        int found = 0;
        for (int i = 0; i + a.length <= zip.length; i++) {
            if (!java.util.Arrays.equals(zip, i, i + a.length, a, 0, a.length)) continue;
            boolean local = i >= 30 && le.getInt(i - 30) == 0x04034b50 && (le.getShort(i - 4) & 0xffff) == a.length;
            boolean central = i >= 46 && le.getInt(i - 46) == 0x02014b50 && (le.getShort(i - 18) & 0xffff) == a.length;
            if (local && inLocal || central && inCentral) {
                System.arraycopy(b, 0, zip, i, b.length);
                found++;
            }
        }
        if (found != (inLocal ? 1 : 0) + (inCentral ? 1 : 0)) throw new IllegalStateException("entry " + from + " found " + found + " times");
    }

    /** Where the 64-bit fields of a ZIP64 archive written by {@link PyTorchZipWriter} are: byte positions in it. */
    record Zip64Fields(int locatorOffset, int count, int cdSize, int cdOffset, int[] usize, int[] csize, int[] local) {

        static Zip64Fields of(byte[] z) {
            ByteBuffer le = ByteBuffer.wrap(z).order(ByteOrder.LITTLE_ENDIAN);
            int eocd = z.length - 22, locator = eocd - 20;
            if (le.getInt(locator) != 0x07064b50) throw new AssertionError("no ZIP64 locator");
            int rec = (int) le.getLong(locator + 8);
            int n = (int) le.getLong(rec + 32), cd = (int) le.getLong(rec + 48);
            int[] usize = new int[n], csize = new int[n], local = new int[n];
            for (int i = 0; i < n; i++) {
                int nameLen = le.getShort(cd + 28) & 0xffff, extraLen = le.getShort(cd + 30) & 0xffff, x = cd + 46 + nameLen;
                if ((le.getShort(x) & 0xffff) != 1 || (le.getShort(x + 2) & 0xffff) != 24) throw new AssertionError("no ZIP64 extra field");
                usize[i] = x + 4;
                csize[i] = x + 12;
                local[i] = x + 20;
                cd = x + extraLen + (le.getShort(cd + 32) & 0xffff);
            }
            return new Zip64Fields(locator + 8, rec + 32, rec + 40, rec + 48, usize, csize, local);
        }
    }

    /** A copy of {@code z} with {@code value} written little-endian at each of these byte positions. */
    static byte[] with(byte[] z, long value, int... at) {
        byte[] c = z.clone();
        for (int a : at) ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putLong(a, value);
        return c;
    }
}
