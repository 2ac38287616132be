package io.headscan.circuits;

import io.headscan.CacheFolder;
import io.headscan.model.Dims;
import io.headscan.model.Model;
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
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * NaN and ±Inf in the weights a computation reads, found before it runs. One NaN in {@code c_attn} makes a head's score
 * NaN, and NaN sorts above every number in a naive ranking; one Inf in {@code wte} makes every score NaN. So the science
 * commands check first and, by default, refuse with the tensors, their counts and the heads they feed.
 *
 * <p>Which heads a tensor feeds (docs/science.md §1–§5, §9), by the role it plays in the model ({@link Model#roles}):
 * the embedding, the unembedding, the final norm and the layer-0 weights behind W_EE feed every head; a layer's
 * pre-attention norm weight every head of that layer; a Q, K, V or O tensor (fused or not) the heads whose blocks of it
 * hold the values. The QK commands read Q and K, the OV command V, W_O and the final norm's bias.
 *
 * <p>Counting reads every float of those tensors once, so the counts are remembered per checkpoint file ({@link FileMemo}).
 */
public final class NonFinite {

    /** What a computation reads: each head's QK or OV circuit, or only the effective embedding W_EE (which feeds every head). */
    public enum Circuit { QK, OV, EMBED }

    /** A tensor with non-finite values: how many NaN and Inf. */
    public record Count(String tensor, long nan, long inf) {
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
        public String describe(Dims dims) {
            String tensors = counts.stream().map(c -> c.tensor() + " (" + (c.nan() > 0 ? c.nan() + " NaN" : "")
                    + (c.nan() > 0 && c.inf() > 0 ? ", " : "") + (c.inf() > 0 ? c.inf() + " Inf" : "") + ")").collect(Collectors.joining(", "));
            int all = dims.layers() * dims.heads();
            String hs = heads.size() == all ? "every head" : heads.size() <= 12
                    ? "head" + (heads.size() == 1 ? " " : "s ") + heads.stream().map(HeadId::toString).collect(Collectors.joining(", "))
                    : heads.size() + " heads (" + heads.first() + " ... " + heads.last() + ")";
            return "non-finite weights: " + tensors + "; they reach " + hs;
        }
    }

    private static final byte[] MAGIC = "HSNONFI2".getBytes(StandardCharsets.US_ASCII);

    private NonFinite() {}

    /** The report for a computation of {@code circuit} with W_EE {@code variant} on this model (the cache under CacheFolder). */
    public static Report check(Model model, Circuit circuit, Variant variant) {
        return check(model, circuit, variant, CacheFolder.root());
    }

    public static Report check(Model model, Circuit circuit, Variant variant, Path cacheRoot) {
        Dims dims = model.dims();
        boolean attention0 = readsAttention0(circuit, variant);
        List<String> names = tensorsRead(dims, circuit, variant, model);
        Map<String, Count> counts = counts(model, names, cacheRoot);
        List<Count> bad = new ArrayList<>();
        TreeSet<HeadId> heads = new TreeSet<>();
        int layers = dims.layers(), h = dims.heads();
        for (String n : names) {
            Count c = counts.get(n);
            if (c == null || c.total() == 0) continue;
            bad.add(c);
            for (int layer = 0; layer < layers; layer++) {
                Set<Model.Role> roles = model.roles(n, layer);
                for (Model.Role r : roles) {
                    switch (r) {
                        case EMBED, UNEMBED, UNEMBED_BIAS, FINAL_NORM_WEIGHT, FINAL_NORM_BIAS -> addAll(heads, 0, layers, h);   // U or W_EE
                        case LN2_WEIGHT, LN2_BIAS, MLP_IN, MLP_IN_BIAS, MLP_OUT, MLP_OUT_BIAS, MLP_GATE, POST_MLP_NORM -> {
                            if (layer == 0) addAll(heads, 0, layers, h);                                   // W_EE's MLP
                        }
                        case POST_ATTENTION_NORM -> {
                            if (layer == 0 && attention0) addAll(heads, 0, layers, h);                     // W_EE's attention term
                        }
                        case LN1_WEIGHT -> {
                            if (layer == 0 && attention0) addAll(heads, 0, layers, h);
                            else if (circuit != Circuit.EMBED) addAll(heads, layer, layer + 1, h);
                        }
                        case Q, K, V, O -> {
                            boolean qk = r == Model.Role.Q || r == Model.Role.K;
                            for (int j = 0; j < h; j++) {
                                if (nonFinite(view(model, r, new HeadId(layer, j))) == 0) continue;
                                if ((circuit == Circuit.QK && qk) || (circuit == Circuit.OV && !qk)) heads.add(new HeadId(layer, j));
                                if (layer == 0 && !qk && attention0) addAll(heads, 0, layers, h);   // W_EE's attention term
                            }
                        }
                        case LN1_BIAS -> { }   // no score reads it
                    }
                }
            }
        }
        return new Report(bad, heads);
    }

    /** Whether W_EE's attention term is read: every variant but noattn, and ov (its IOI scores use noattn, its ranks the variant). */
    private static boolean readsAttention0(Circuit circuit, Variant variant) {
        return variant != Variant.NOATTN || circuit == Circuit.OV;
    }

    /** A head's block of a Q, K, V or O tensor, as stored. */
    private static io.headscan.model.Matrix view(Model model, Model.Role r, HeadId id) {
        return switch (r) {
            case Q -> model.wq(id).stored();
            case K -> model.wk(id).stored();
            case V -> model.wv(id).stored();
            default -> model.wo(id).stored();
        };
    }

    /** Non-finite values in a (small) view. */
    private static long nonFinite(io.headscan.model.Matrix m) {
        long n = 0;
        for (int r = 0; r < m.rows(); r++) for (int c = 0; c < m.cols(); c++) if (!Float.isFinite(m.get(r, c))) n++;
        return n;
    }

    private static void addAll(TreeSet<HeadId> heads, int fromLayer, int toLayer, int h) {
        for (int l = fromLayer; l < toLayer; l++) for (int j = 0; j < h; j++) heads.add(new HeadId(l, j));
    }

    /** The tensors (full names) a computation reads (docs/science.md §1–§5, §9), each once. */
    static List<String> tensorsRead(Dims dims, Circuit circuit, Variant variant, Model model) {
        java.util.LinkedHashSet<String> n = new java.util.LinkedHashSet<>();
        n.add(model.name(Model.Role.EMBED, 0));
        n.add(model.name(Model.Role.UNEMBED, 0));
        n.add(model.name(Model.Role.FINAL_NORM_WEIGHT, 0));
        if (circuit == Circuit.OV) {
            n.add(model.name(Model.Role.FINAL_NORM_BIAS, 0));
            n.add(model.name(Model.Role.UNEMBED_BIAS, 0));
        }
        if (readsAttention0(circuit, variant)) {
            for (Model.Role r : List.of(Model.Role.LN1_WEIGHT, Model.Role.V, Model.Role.O, Model.Role.POST_ATTENTION_NORM)) n.add(model.name(r, 0));
        }
        for (Model.Role r : List.of(Model.Role.LN2_WEIGHT, Model.Role.LN2_BIAS, Model.Role.MLP_IN, Model.Role.MLP_IN_BIAS,
                Model.Role.MLP_OUT, Model.Role.MLP_OUT_BIAS, Model.Role.MLP_GATE, Model.Role.POST_MLP_NORM)) n.add(model.name(r, 0));
        for (int l = 0; l < (circuit == Circuit.EMBED ? 0 : dims.layers()); l++) {
            n.add(model.name(Model.Role.LN1_WEIGHT, l));
            List<Model.Role> heads = circuit == Circuit.OV ? List.of(Model.Role.V, Model.Role.O) : List.of(Model.Role.Q, Model.Role.K);
            for (Model.Role r : heads) n.add(model.name(r, l));
        }
        n.remove(null);
        n.removeIf(t -> !model.file().has(t));
        return List.copyOf(n);
    }

    /** The files a checkpoint's memos are keyed on: the weights file, or the index and every shard. */
    static List<Path> memoFiles(Model model) {
        List<Path> files = new ArrayList<>(model.file().files());
        if (!files.contains(model.path())) files.addFirst(model.path());
        return files;
    }

    /** Counts for these tensors: remembered ones from the memo, the rest counted (in parallel) and added to it. */
    private static Map<String, Count> counts(Model model, List<String> names, Path cacheRoot) {
        Optional<FileMemo> memo = FileMemo.of(memoFiles(model), cacheRoot, "nonfinite", ".bin");
        Map<String, Count> known = memo.flatMap(m -> m.read(MAGIC)).map(NonFinite::decode).orElseGet(LinkedHashMap::new);
        List<String> missing = names.stream().filter(n -> !known.containsKey(n)).toList();
        if (missing.isEmpty()) return known;
        Dims dims = model.dims();
        List<Count> fresh = missing.parallelStream().map(n -> count(model, n, dims)).toList();
        for (Count c : fresh) known.put(c.tensor(), c);
        memo.ifPresent(m -> m.write(MAGIC, encode(known)));
        return known;
    }

    /** Counts one tensor (its heads' shares are found from the head views, only when it has any). */
    static Count count(Model model, String name, Dims dims) {
        io.headscan.format.TensorInfo t = model.file().info(name);
        if (t.dtype() == io.headscan.format.DType.F16 || t.dtype() == io.headscan.format.DType.BF16) {
            // read as stored: widening the embedding and unembedding here would cost more than the run that follows
            return countHalf(name, model.file().segment(t), t.elementCount(), t.dtype() == io.headscan.format.DType.F16);
        }
        MemorySegment s = model.data(name);
        long n = s.byteSize() / 4;
        if (!anyNonFinite(s, n)) return new Count(name, 0, 0);
        long nan = 0, inf = 0;
        for (long i = 0; i < n; i++) {
            float x = s.get(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4);
            if (Float.isFinite(x)) continue;
            if (Float.isNaN(x)) nan++;
            else inf++;
        }
        return new Count(name, nan, inf);
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

    /**
     * {@link #count} over 16-bit floats as stored: F16 is non-finite when its 5 exponent bits are all ones (0x7c00),
     * BF16 when its 8 are (0x7f80); NaN when the mantissa below is not zero. Four values per 64-bit read, tested as in
     * {@link #anyNonFinite} (the masked exponent plus its lowest bit carries into the lane's sign bit exactly when
     * all are ones, and never into the next lane).
     */
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static Count countHalf(String name, MemorySegment s, long n, boolean f16) {
        long exp = f16 ? 0x7c00 : 0x7f80, low = f16 ? 0x0400 : 0x0080, mantissa = f16 ? 0x03ff : 0x007f;
        long expMask = exp * 0x0001000100010001L, lowAdd = low * 0x0001000100010001L, signs = 0x8000800080008000L;
        final long chunk = 1L << 21;   // values
        boolean any = java.util.stream.LongStream.range(0, (n + chunk - 1) / chunk).parallel().anyMatch(c -> {
            long from = c * chunk, to = Math.min(n, from + chunk);
            long hit = 0, i = from;
            for (; i + 3 < to; i += 4) hit |= ((s.get(LONG_LE, i * 2) & expMask) + lowAdd) & signs;
            for (; i < to; i++) hit |= (s.get(SHORT_LE, i * 2) & exp) == exp ? 1 : 0;
            return hit != 0;
        });
        if (!any) return new Count(name, 0, 0);
        long nan = 0, inf = 0;
        for (long i = 0; i < n; i++) {
            int b = s.get(SHORT_LE, i * 2);
            if ((b & exp) != exp) continue;
            if ((b & mantissa) != 0) nan++;
            else inf++;
        }
        return new Count(name, nan, inf);
    }

    private static byte[] encode(Map<String, Count> counts) {
        int size = 4;
        for (Count c : counts.values()) size += 4 + c.tensor().getBytes(StandardCharsets.UTF_8).length + 16;
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(counts.size());
        for (Count c : counts.values()) {
            byte[] name = c.tensor().getBytes(StandardCharsets.UTF_8);
            b.putInt(name.length).put(name).putLong(c.nan()).putLong(c.inf());
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
                String t = new String(name, StandardCharsets.UTF_8);
                out.put(t, new Count(t, nan, inf));
            }
        } catch (RuntimeException e) {
            return new LinkedHashMap<>();   // damaged: count again
        }
        return out;
    }
}
