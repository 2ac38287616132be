package io.headscan.sweep;

import io.headscan.CacheFolder;
import io.headscan.Progress;
import io.headscan.circuits.Bags;
import io.headscan.circuits.CheckpointIdentity;
import io.headscan.circuits.NonFinite;
import io.headscan.circuits.PredictionAttention;
import io.headscan.circuits.Variant;
import io.headscan.compute.Backend;
import io.headscan.format.DType;
import io.headscan.format.TensorInfo;
import io.headscan.inspect.TensorStatistics;
import io.headscan.model.Gpt2Dims;
import io.headscan.model.Gpt2Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Runs {@link Analyses} over many checkpoints in one process: the backend and the bags are set up once; checkpoints are
 * opened (mapped) one at a time, the kernel asked to read the next one's file ahead while the current is computed, and
 * each is closed before the one after it, so memory does not grow with their number. A checkpoint that
 * cannot be opened or computed becomes an error (its one-line message) and the sweep goes on, unless {@code failFast}.
 * Library code: it reports through {@link Listener} and never prints.
 */
public final class Sweep {

    /** What a sweep tells its driver. */
    public interface Listener {
        /** A checkpoint is done ({@code skipped}: all its definitions were already in the sink). */
        void done(Checkpoint c, ModelInfo info, boolean skipped, List<HeadId> topHeads, double seconds);

        /** A checkpoint failed; {@code message} is one line. */
        void failed(Checkpoint c, String message);
    }

    /** How a sweep ended. */
    public record Summary(int computed, int skipped, int failed, double seconds) {}

    private final Backend backend;
    private final Analyses analyses;
    private final ResultSink sink;
    private final Function<Checkpoint, Path> resolver;
    private final Listener listener;
    private final boolean failFast;
    /** Bags per (vocabulary size, seed): drawn once. */
    private final Map<String, List<int[]>> bags = new HashMap<>();

    /**
     * @param resolver where a checkpoint's files are (a path as it is; a hub id through the Hugging Face cache or a
     *                 download); it throws with a one-line message when it cannot say
     */
    public Sweep(Backend backend, Analyses analyses, ResultSink sink, Function<Checkpoint, Path> resolver, Listener listener, boolean failFast) {
        this.backend = backend;
        this.analyses = analyses;
        this.sink = sink;
        this.resolver = resolver;
        this.listener = listener;
        this.failFast = failFast;
    }

    /** Runs over the checkpoints in order; {@code progress} counts checkpoints. */
    public Summary run(List<Checkpoint> checkpoints, Progress progress) throws Exception {
        long t0 = System.nanoTime();
        int computed = 0, skipped = 0, failed = 0;
        progress.start("sweep", checkpoints.size(), "checkpoints");
        for (int i = 0; i < checkpoints.size(); i++) {
            Checkpoint c = checkpoints.get(i);
            long c0 = System.nanoTime();
            Path path;
            try {
                path = resolver.apply(c);
            } catch (RuntimeException e) {
                failed++;
                fail(c, oneLine(e));
                progress.advance(1);
                if (failFast) break;
                continue;
            }
            if (i + 1 < checkpoints.size()) readAhead(checkpoints.get(i + 1));
            try {
                Outcome o = one(c, path);
                if (o.skipped) skipped++;
                else computed++;
                listener.done(c, o.info, o.skipped, o.top, (System.nanoTime() - c0) / 1e9);
            } catch (Exception | OutOfMemoryError e) {
                if (e instanceof InterruptedException) throw e;
                failed++;
                fail(c, oneLine(e));
                if (failFast) break;
            } finally {
                progress.advance(1);
            }
        }
        progress.done();
        return new Summary(computed, skipped, failed, (System.nanoTime() - t0) / 1e9);
    }

    private void fail(Checkpoint c, String message) throws Exception {
        sink.error(c.spec(), c.revision(), message);
        listener.failed(c, message);
    }

    static String oneLine(Throwable e) {
        if (e instanceof java.nio.file.NoSuchFileException n) return n.getFile() + ": no such file";
        String m = e.getMessage();
        return (m == null ? e.toString() : m).replace('\n', ' ');
    }

    private record Outcome(ModelInfo info, boolean skipped, List<HeadId> top) {}

    /** Asks the kernel to read the next checkpoint's file ahead (for paths; hub ids resolve later): free when it is cached. */
    private static void readAhead(Checkpoint next) {
        Path p = Path.of(next.spec());
        Path file = Files.isDirectory(p) ? p.resolve("model.safetensors") : p;
        if (Files.isRegularFile(file)) io.headscan.Posix.readAhead(file);
    }

    private Outcome one(Checkpoint c, Path path) throws Exception {
        try (Gpt2Model m = Gpt2Model.open(path)) {
            ModelInfo info = info(c, m);
            List<String> todo = new ArrayList<>();
            for (String k : analyses.keys(m.dims())) if (!sink.isDone(info, k)) todo.add(k);
            if (todo.isEmpty()) return new Outcome(info, true, List.of());
            List<ResultRow> rows = new ArrayList<>();
            List<HeadId> top = List.of();
            if (analyses.score() && todo.stream().anyMatch(k -> k.startsWith("score"))) top = score(m, todo, rows);
            if (analyses.weights() && todo.contains(Analyses.WEIGHTS_KEY)) weights(m, rows);
            if (todo.stream().anyMatch(k -> k.startsWith("fullvocab ") || k.startsWith("ov "))) fullVocabulary(m, todo, rows);
            sink.write(info, todo, rows);
            return new Outcome(info, false, top);
        }
    }

    private ModelInfo info(Checkpoint c, Gpt2Model m) throws IOException {
        Gpt2Dims d = m.dims();
        Path file = m.path();
        long size = Files.size(file);
        String fileKey = size + ":" + Files.getLastModifiedTime(file).toMillis();
        String sha = CheckpointIdentity.known(file, CacheFolder.root()).orElse(null);
        TreeMap<String, Integer> dtypes = new TreeMap<>();
        for (TensorInfo t : m.tensors()) dtypes.merge(t.dtype().name(), 1, Integer::sum);
        StringBuilder dt = new StringBuilder();
        dtypes.forEach((k, v) -> dt.append(dt.isEmpty() ? "" : ",").append(k).append(':').append(v));
        if (!m.zeroCopy()) dt.append(" (widened to F32)");
        return new ModelInfo(c.spec(), c.revision(), file.toString(), size, fileKey, sha, c.label(),
                c.step().isPresent() ? c.step().getAsLong() : null, d.architectureName(), d.layers(), d.heads(), d.dModel(), d.vocab(), dt.toString());
    }

    /** The score rows of every variant and seed still to do; returns the top two heads of the first. */
    private List<HeadId> score(Gpt2Model m, List<String> todo, List<ResultRow> rows) {
        Gpt2Dims d = m.dims();
        PredictionAttention.prefetch(m);   // the layer weights, paged in on another thread while U and W_EE are computed
        List<HeadId> top = null;
        for (Variant v : analyses.variants()) {
            Set<HeadId> marked = Set.of();
            NonFinite.Report nf = NonFinite.check(m, NonFinite.Circuit.QK, v);
            if (!nf.clean()) {
                if (!analyses.allowNonFinite()) throw new IllegalArgumentException(nf.describe(d) + " (--allow-nonfinite to score anyway)");
                marked = nf.heads();
            }
            PredictionAttention pa = new PredictionAttention(m, backend, v, marked.isEmpty());
            for (long seed : analyses.scoreSeeds()) {
                String key = analyses.scoreKey(v, seed);
                if (!todo.contains(key)) continue;
                List<int[]> b;
                if (analyses.fixedBags() != null) {
                    b = analyses.fixedBags().bags();
                    Bags.validate(b, d.vocab());   // token ids outside this checkpoint's vocabulary: an error for it alone
                } else {
                    b = bags.computeIfAbsent(d.vocab() + "/" + seed,
                            k -> Bags.random(d.vocab(), analyses.bagSize(), analyses.bagCount(), seed, analyses.withReplacement()));
                }
                Long recorded = analyses.fixedBags() != null ? null : seed;
                PredictionAttention.Result r = pa.score(b, Progress.NONE);
                Set<HeadId> bad = r.unreliable(marked);
                double[][] centered = r.centered(marked);
                List<HeadId> ranking = r.ranking(marked);
                Map<HeadId, Integer> rank = new HashMap<>();
                for (int i = 0; i < ranking.size(); i++) rank.put(ranking.get(i), i + 1);
                for (int l = 0; l < d.layers(); l++) {
                    for (int h = 0; h < d.heads(); h++) {
                        HeadId id = new HeadId(l, h);
                        boolean ok = !bad.contains(id);
                        rows.add(new ResultRow("score", key, v.id(), recorded, l, h, null, "score", ok ? r.scores()[l][h] : Double.NaN));
                        rows.add(new ResultRow("score", key, v.id(), recorded, l, h, null, "centered", centered[l][h]));
                        rows.add(new ResultRow("score", key, v.id(), recorded, l, h, null, "std_over_bags", ok ? r.perBagStd()[l][h] : Double.NaN));
                        rows.add(new ResultRow("score", key, v.id(), recorded, l, h, null, "rank", ok ? rank.get(id) : Double.NaN));
                    }
                }
                if (top == null) top = ranking.subList(0, Math.min(2, ranking.size()));
            }
        }
        return top == null ? List.of() : top;
    }

    /**
     * Full-vocabulary QK and OV statistics of the heads still to do. W_EE is computed into off-heap memory for this
     * checkpoint alone (no cache file: a sweep may see hundreds of checkpoints) and freed with it.
     */
    private void fullVocabulary(Gpt2Model m, List<String> todo, List<ResultRow> rows) {
        Gpt2Dims d = m.dims();
        Variant v = analyses.fullVariant();
        NonFinite.Report nf = NonFinite.check(m, NonFinite.Circuit.QK, v);
        NonFinite.Report nfOv = NonFinite.check(m, NonFinite.Circuit.OV, v);
        if ((!nf.clean() || !nfOv.clean()) && !analyses.allowNonFinite()) {
            throw new IllegalArgumentException((nf.clean() ? nfOv : nf).describe(d) + " (--allow-nonfinite to compute the other heads)");
        }
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            Matrix wee = Matrix.dense(io.headscan.OffHeap.allocate(arena, (long) d.vocab() * d.dModel() * Float.BYTES), d.vocab(), d.dModel());
            new io.headscan.circuits.EffectiveEmbedding(m, backend, v).computeAll(wee, Progress.NONE);
            if (analyses.fullvocabHeads() != null) {
                try (var qk = new io.headscan.circuits.FullVocabQK(m, backend, wee)) {
                    for (HeadId h : Analyses.heads(analyses.fullvocabHeads(), d)) {
                        String key = analyses.fullvocabKey(h);
                        if (!todo.contains(key) || nf.heads().contains(h)) continue;
                        var s = qk.head(h, Progress.NONE);
                        rows.add(new ResultRow("fullvocab", key, v.id(), null, h.layer(), h.head(), null, "mean_diag_prob", s.meanDiagProb()));
                        ranks(rows, "fullvocab", key, v, h, "", s.ranks());
                    }
                }
            }
            if (analyses.ovHeads() != null) {
                try (var ov = new io.headscan.circuits.OvCircuit(m, backend, wee)) {
                    for (HeadId h : Analyses.heads(analyses.ovHeads(), d)) {
                        String key = analyses.ovKey(h);
                        if (!todo.contains(key) || nfOv.heads().contains(h)) continue;
                        var s = ov.ranks(h, Progress.NONE);
                        ranks(rows, "ov", key, v, h, "negative_", s.negative());
                        ranks(rows, "ov", key, v, h, "positive_", s.positive());
                    }
                }
            }
        }
    }

    private static void ranks(List<ResultRow> rows, String analysis, String key, Variant v, HeadId h, String prefix, io.headscan.circuits.RankStatistics r) {
        rows.add(new ResultRow(analysis, key, v.id(), null, h.layer(), h.head(), null, prefix + "frac_rank0", r.fracRank0()));
        rows.add(new ResultRow(analysis, key, v.id(), null, h.layer(), h.head(), null, prefix + "frac_rank_lt10", r.fracRankLt10()));
        rows.add(new ResultRow(analysis, key, v.id(), null, h.layer(), h.head(), null, prefix + "median_rank", r.medianRank()));
        rows.add(new ResultRow(analysis, key, v.id(), null, h.layer(), h.head(), null, prefix + "mean_rank", r.meanRank()));
    }

    /** Per-tensor statistics of every float tensor, and per-head Frobenius norms of W_Q, W_K, W_V, W_O. */
    private void weights(Gpt2Model m, List<ResultRow> rows) {
        String key = Analyses.WEIGHTS_KEY;
        for (TensorInfo t : m.tensors()) {
            if (!TensorStatistics.applies(t.dtype()) || t.dtype() == DType.BOOL) continue;
            TensorStatistics s = TensorStatistics.of(m.file(), t, Progress.NONE);
            String name = t.name();
            rows.add(new ResultRow("weights", key, null, null, -1, -1, name, "min", s.min()));
            rows.add(new ResultRow("weights", key, null, null, -1, -1, name, "max", s.max()));
            rows.add(new ResultRow("weights", key, null, null, -1, -1, name, "mean", s.mean()));
            rows.add(new ResultRow("weights", key, null, null, -1, -1, name, "std", s.std()));
            rows.add(new ResultRow("weights", key, null, null, -1, -1, name, "l2", s.l2()));
            rows.add(new ResultRow("weights", key, null, null, -1, -1, name, "nan", s.nanCount()));
            rows.add(new ResultRow("weights", key, null, null, -1, -1, name, "inf", s.infCount()));
        }
        Gpt2Dims d = m.dims();
        for (int l = 0; l < d.layers(); l++) {
            for (int h = 0; h < d.heads(); h++) {
                HeadId id = new HeadId(l, h);
                Matrix[] ws = {m.wq(id), m.wk(id), m.wv(id), m.wo(id)};
                String[] names = {"frobenius_W_Q", "frobenius_W_K", "frobenius_W_V", "frobenius_W_O"};
                for (int i = 0; i < 4; i++) rows.add(new ResultRow("weights", key, null, null, l, h, null, names[i], TensorStatistics.of(ws[i]).l2()));
            }
        }
    }
}
