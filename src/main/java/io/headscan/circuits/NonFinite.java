package io.headscan.circuits;

import io.headscan.CacheFolder;
import io.headscan.model.Gpt2Dims;
import io.headscan.model.Gpt2Layout;
import io.headscan.model.Gpt2Model;
import io.headscan.model.HeadId;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * NaN and ±Inf in the weights a computation reads, found before it runs. One NaN in {@code c_attn} makes a head's score
 * NaN, and NaN sorts above every number in a naive ranking; one Inf in {@code wte} makes every score NaN. So the science
 * commands check first and, by default, refuse with the tensors, their counts and the heads they feed.
 *
 * <p>Which heads a tensor feeds (docs/science.md §1–§5): {@code wte} and {@code ln_f.weight} (U, and the input of W_EE)
 * and the layer-0 weights behind W_EE feed every head; {@code h.l.ln_1.weight} every head of layer l; a column of
 * {@code h.l.attn.c_attn.weight} (or its bias, which no score reads) belongs to one head's Q, K or V; a row block of
 * {@code h.l.attn.c_proj.weight} to one head's W_O. The QK commands read Q and K, the OV command V, W_O and {@code ln_f.bias}.
 *
 * <p>Counting reads every float of those tensors once, so the counts are remembered per checkpoint file ({@link FileMemo}).
 */
public final class NonFinite {

    /** What a computation reads: each head's QK or OV circuit, or only the effective embedding W_EE (which feeds every head). */
    public enum Circuit { QK, OV, EMBED }

    /** A tensor with non-finite values: how many NaN and Inf, and, for c_attn and c_proj, how many per head block. */
    public record Count(String tensor, long nan, long inf, long[] perBlock) {
        long total() {
            return nan + inf;
        }
    }

    /** The non-finite values a computation would read, and the heads they reach. Empty when all is finite. */
    public record Report(List<Count> counts, TreeSet<HeadId> heads) {

        public boolean clean() {
            return counts.isEmpty();
        }

        /** One line: tensors with counts, then the heads. */
        public String describe(Gpt2Dims dims) {
            String tensors = counts.stream().map(c -> c.tensor() + " (" + (c.nan() > 0 ? c.nan() + " NaN" : "")
                    + (c.nan() > 0 && c.inf() > 0 ? ", " : "") + (c.inf() > 0 ? c.inf() + " Inf" : "") + ")").collect(Collectors.joining(", "));
            int all = dims.layers() * dims.heads();
            String hs = heads.size() == all ? "every head" : heads.size() <= 12
                    ? "head" + (heads.size() == 1 ? " " : "s ") + heads.stream().map(HeadId::toString).collect(Collectors.joining(", "))
                    : heads.size() + " heads (" + heads.first() + " ... " + heads.last() + ")";
            return "non-finite weights: " + tensors + "; they reach " + hs;
        }
    }

    private static final byte[] MAGIC = "HSNONFI1".getBytes(StandardCharsets.US_ASCII);

    private NonFinite() {}

    /** The report for a computation of {@code circuit} with W_EE {@code variant} on this model (the cache under CacheFolder). */
    public static Report check(Gpt2Model model, Circuit circuit, Variant variant) {
        return check(model, circuit, variant, CacheFolder.root());
    }

    public static Report check(Gpt2Model model, Circuit circuit, Variant variant, Path cacheRoot) {
        Gpt2Dims dims = model.dims();
        List<String> names = tensorsRead(dims, circuit, variant, model);
        Map<String, Count> counts = counts(model, names, cacheRoot);
        List<Count> bad = new ArrayList<>();
        TreeSet<HeadId> heads = new TreeSet<>();
        int layers = dims.layers(), h = dims.heads();
        for (String n : names) {
            Count c = counts.get(n);
            if (c == null || c.total() == 0) continue;
            bad.add(c);
            int layer = layerOf(n);
            if (layer < 0 || (layer == 0 && !n.equals(Gpt2Layout.ln1Weight(0)) && !n.equals(Gpt2Layout.cAttnWeight(0))
                    && !n.equals(Gpt2Layout.attnProjWeight(0)))) {
                addAll(heads, 0, layers, h);                   // wte, ln_f, layer-0 LN2/MLP: U or W_EE
            } else if (n.equals(Gpt2Layout.ln1Weight(layer))) {
                if (layer == 0 && variant != Variant.NOATTN) addAll(heads, 0, layers, h);
                else addAll(heads, layer, layer + 1, h);
            } else if (n.equals(Gpt2Layout.cAttnWeight(layer))) {
                long[] b = c.perBlock();
                for (int j = 0; j < h; j++) {
                    boolean qk = b[j] + b[h + j] > 0, v = b[2 * h + j] > 0;
                    if ((circuit == Circuit.QK && qk) || (circuit == Circuit.OV && v)) heads.add(new HeadId(layer, j));
                    if (layer == 0 && v && variant != Variant.NOATTN) addAll(heads, 0, layers, h);   // W_EE's attention term
                }
            } else if (n.equals(Gpt2Layout.attnProjWeight(layer))) {
                long[] b = c.perBlock();
                for (int j = 0; j < h; j++) {
                    if (b[j] > 0 && circuit == Circuit.OV) heads.add(new HeadId(layer, j));
                    if (b[j] > 0 && layer == 0 && variant != Variant.NOATTN) addAll(heads, 0, layers, h);
                }
            }
        }
        return new Report(bad, heads);
    }

    private static void addAll(TreeSet<HeadId> heads, int fromLayer, int toLayer, int h) {
        for (int l = fromLayer; l < toLayer; l++) for (int j = 0; j < h; j++) heads.add(new HeadId(l, j));
    }

    private static int layerOf(String name) {
        if (!name.startsWith("h.")) return -1;
        return Integer.parseInt(name.substring(2, name.indexOf('.', 2)));
    }

    /** The layout tensors a computation reads (docs/science.md §1–§5). */
    static List<String> tensorsRead(Gpt2Dims dims, Circuit circuit, Variant variant, Gpt2Model model) {
        List<String> n = new ArrayList<>(List.of(Gpt2Layout.WTE, "ln_f.weight"));
        if (circuit == Circuit.OV) n.add("ln_f.bias");
        if (variant != Variant.NOATTN || circuit == Circuit.OV) {   // ov's IOI scores use noattn, its ranks the variant
            n.addAll(List.of(Gpt2Layout.ln1Weight(0), Gpt2Layout.cAttnWeight(0), Gpt2Layout.attnProjWeight(0)));
        }
        n.addAll(List.of(Gpt2Layout.ln2Weight(0), Gpt2Layout.ln2Bias(0), Gpt2Layout.fcWeight(0), Gpt2Layout.fcBias(0),
                Gpt2Layout.mlpProjWeight(0), Gpt2Layout.mlpProjBias(0)));
        for (int l = 0; l < (circuit == Circuit.EMBED ? 0 : dims.layers()); l++) {
            if (!n.contains(Gpt2Layout.ln1Weight(l))) n.add(Gpt2Layout.ln1Weight(l));
            if (!n.contains(Gpt2Layout.cAttnWeight(l))) n.add(Gpt2Layout.cAttnWeight(l));
            if (circuit == Circuit.OV && !n.contains(Gpt2Layout.attnProjWeight(l))) n.add(Gpt2Layout.attnProjWeight(l));
        }
        n.removeIf(t -> !model.file().has(model.prefix() + t));
        return n;
    }

    /** The files a checkpoint's memos are keyed on: the weights file, or the index and every shard. */
    static List<Path> memoFiles(Gpt2Model model) {
        List<Path> files = new ArrayList<>(model.file().files());
        if (!files.contains(model.path())) files.addFirst(model.path());
        return files;
    }

    /** Counts for these tensors: remembered ones from the memo, the rest counted (in parallel) and added to it. */
    private static Map<String, Count> counts(Gpt2Model model, List<String> names, Path cacheRoot) {
        Optional<FileMemo> memo = FileMemo.of(memoFiles(model), cacheRoot, "nonfinite", ".bin");
        Map<String, Count> known = memo.flatMap(m -> m.read(MAGIC)).map(NonFinite::decode).orElseGet(LinkedHashMap::new);
        List<String> missing = names.stream().filter(n -> !known.containsKey(n)).toList();
        if (missing.isEmpty()) return known;
        Gpt2Dims dims = model.dims();
        List<Count> fresh = missing.parallelStream().map(n -> count(model, n, dims)).toList();
        for (Count c : fresh) known.put(c.tensor(), c);
        memo.ifPresent(m -> m.write(MAGIC, encode(known)));
        return known;
    }

    /** Counts one tensor; c_attn per column block of d_head (Q heads, K heads, V heads), c_proj per row block. */
    static Count count(Gpt2Model model, String name, Gpt2Dims dims) {
        MemorySegment s = model.data(name);
        long n = s.byteSize() / 4;
        if (!anyNonFinite(s, n)) return new Count(name, 0, 0, null);
        int d = dims.dModel(), dh = dims.dHead();
        boolean cAttn = name.endsWith(".attn.c_attn.weight"), cProj = name.endsWith(".attn.c_proj.weight");
        long[] blocks = cAttn ? new long[3 * dims.heads()] : cProj ? new long[dims.heads()] : null;
        long nan = 0, inf = 0;
        for (long i = 0; i < n; i++) {
            float x = s.get(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4);
            if (Float.isFinite(x)) continue;
            if (Float.isNaN(x)) nan++;
            else inf++;
            if (cAttn) blocks[(int) ((i % (3L * d)) / dh)]++;
            else if (cProj) blocks[(int) ((i / d) / dh)]++;
        }
        return new Count(name, nan, inf, blocks);
    }

    /**
     * Whether any float is NaN or ±Inf, over chunks of 4 MiB in parallel (most of the time goes into faulting in the
     * mapped pages, which the cores then share). Two floats per 64-bit read: a float is non-finite exactly when its
     * exponent bits are all ones, i.e. when adding 1 to the exponent field carries into the sign bit; the two halves of
     * the long cannot carry into each other, so one add and one mask test both, without a branch.
     */
    private static boolean anyNonFinite(MemorySegment s, long n) {
        final long chunk = 1L << 20;   // floats
        return java.util.stream.LongStream.range(0, (n + chunk - 1) / chunk).parallel().anyMatch(c -> {
            long from = c * chunk, to = Math.min(n, from + chunk);
            long hit = 0, i = from;
            for (; i + 1 < to; i += 2) {
                long v = s.get(ValueLayout.JAVA_LONG_UNALIGNED, i * 4);
                hit |= ((v & 0x7f8000007f800000L) + 0x0080000000800000L) & 0x8000000080000000L;
            }
            if (i < to) hit |= (((s.get(ValueLayout.JAVA_INT_UNALIGNED, i * 4) & 0x7f800000) + 0x00800000) & 0x80000000L);
            return hit != 0;
        });
    }

    private static byte[] encode(Map<String, Count> counts) {
        int size = 4;
        for (Count c : counts.values()) size += 4 + c.tensor().getBytes(StandardCharsets.UTF_8).length + 16 + 4 + (c.perBlock() == null ? 0 : 8 * c.perBlock().length);
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(counts.size());
        for (Count c : counts.values()) {
            byte[] name = c.tensor().getBytes(StandardCharsets.UTF_8);
            b.putInt(name.length).put(name).putLong(c.nan()).putLong(c.inf());
            b.putInt(c.perBlock() == null ? -1 : c.perBlock().length);
            if (c.perBlock() != null) for (long x : c.perBlock()) b.putLong(x);
        }
        return b.array();
    }

    private static Map<String, Count> decode(byte[] payload) {
        Map<String, Count> out = new LinkedHashMap<>();
        try {
            ByteBuffer b = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
            int n = b.getInt();
            for (int i = 0; i < n; i++) {
                byte[] name = new byte[b.getInt()];
                b.get(name);
                long nan = b.getLong(), inf = b.getLong();
                int k = b.getInt();
                long[] blocks = k < 0 ? null : new long[k];
                for (int j = 0; j < k; j++) blocks[j] = b.getLong();
                String t = new String(name, StandardCharsets.UTF_8);
                out.put(t, new Count(t, nan, inf, blocks));
            }
        } catch (RuntimeException e) {
            return new LinkedHashMap<>();   // damaged: count again
        }
        return out;
    }
}
