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
import io.headscan.model.Dims;
import io.headscan.model.Model;
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
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Runs {@link Analyses} over many checkpoints in one process: the backend and the bags are set up once; checkpoints are
 * opened (mapped) one at a time and each is closed before the one after it, so memory does not grow with their number.
 * While one is computed, the next {@code prefetch} are resolved on a thread of their own (a Hub checkpoint downloaded,
 * a local one read ahead by the kernel), and a checkpoint's downloads are removed from the cache once its rows are
 * committed unless they are to be kept ({@link Fetched#release}). A checkpoint that cannot be fetched, opened or
 * computed becomes an error (its one-line message) and the sweep goes on, unless {@code failFast}: whatever it threw,
 * a stack overflow or running out of memory included; only the JVM's own failures (an {@link InternalError} other than a
 * fault reading a mapped file, an {@link UnknownError}) end the sweep. Library code: it reports through
 * {@link Listener} and never prints.
 */
public final class Sweep {

    /** What a sweep tells its driver. */
    public interface Listener {
        /**
         * A checkpoint is done ({@code skipped}: all its definitions were already in the sink); {@code fetchSeconds} is the
         * time its files took to arrive (downloads; 0 for local files), {@code computeSeconds} the rest.
         */
        void done(Checkpoint c, ModelInfo info, boolean skipped, List<HeadId> topHeads, double fetchSeconds, double computeSeconds);

        /** A checkpoint failed; {@code message} is one line. */
        void failed(Checkpoint c, String message);

        /** As {@link #failed(Checkpoint, String)}, with what was thrown (for a caller that tells kinds of failure apart). */
        default void failed(Checkpoint c, String message, Throwable cause) {
            failed(c, message);
        }
    }

    /** How a sweep ended; {@code bytesFetched}: what its downloads transferred. */
    public record Summary(int computed, int skipped, int failed, double seconds, long bytesFetched) {}

    /**
     * A checkpoint's files, ready to open: where they are, the canonical repository and commit of a Hub checkpoint
     * (null for a local one), what fetching them transferred and how long it took, and what to do once the checkpoint is
     * done with them.
     */
    public record Fetched(Path path, String repo, String commit, long bytes, double seconds, Release release, String source, String content) {
        public Fetched(Path path, String repo, String commit, long bytes, double seconds, Release release) {
            this(path, repo, commit, bytes, seconds, release, null, null);
        }

        public static Fetched local(Path path) {
            return new Fetched(path, null, null, 0, 0, () -> {});
        }

        /**
         * Files copied from elsewhere (a Hadoop URI) into {@code path}: their identity is where they came from
         * ({@code source}) and what the remote side said of them ({@code content}), not the local copy's.
         */
        public static Fetched copied(Path path, String source, String content, long bytes, double seconds, Release release) {
            return new Fetched(path, null, null, bytes, seconds, release, source, content);
        }
    }

    /** Called once a checkpoint is finished with its files (committed, skipped or failed). */
    @FunctionalInterface
    public interface Release {
        void run() throws Exception;
    }

    /** Fetches a checkpoint's files; throws with a one-line message when it cannot. */
    @FunctionalInterface
    public interface Fetcher {
        Fetched fetch(Checkpoint c) throws Exception;
    }

    private final Backend backend;
    private final Analyses analyses;
    private final ResultSink sink;
    private final Fetcher fetcher;
    private final Listener listener;
    private final boolean failFast;
    private int prefetch = 1;
    /** Bags per (vocabulary size, seed): drawn once. */
    private final Map<String, List<int[]>> bags = new HashMap<>();

    /**
     * @param fetcher where a checkpoint's files are (a path as it is; a hub id through the Hugging Face cache or a
     *                download)
     */
    public Sweep(Backend backend, Analyses analyses, ResultSink sink, Fetcher fetcher, Listener listener, boolean failFast) {
        this.backend = backend;
        this.analyses = analyses;
        this.sink = sink;
        this.fetcher = fetcher;
        this.listener = listener;
        this.failFast = failFast;
    }

    /** Checkpoints fetched ahead of the one being computed (default 1; 0 fetches each when its turn comes). */
    public Sweep prefetch(int n) {
        if (n < 0) throw new IllegalArgumentException("prefetch " + n + ": must be at least 0");
        this.prefetch = n;
        return this;
    }

    /** Whether a checkpoint names local files (an existing path), to which no revision applies. */
    public static boolean isLocal(Checkpoint c) {
        return Files.exists(Path.of(c.spec())) || !io.headscan.hub.RepoId.looksLikeId(c.spec());
    }

    /** The identity of a Hub checkpoint pinned to a commit: known before anything is fetched. */
    static String hubSource(String canonicalRepo, String commit) {
        return "hf:" + canonicalRepo + "@" + commit;
    }

    static String hubContent(String commit) {
        return "commit:" + commit;
    }

    /** Runs over the checkpoints in order; {@code progress} counts checkpoints. */
    public Summary run(List<Checkpoint> checkpoints, Progress progress) throws Exception {
        long t0 = System.nanoTime();
        int computed = 0, skipped = 0, failed = 0;
        long bytes = 0;
        int n = checkpoints.size();
        progress.start("sweep", n, "checkpoints");
        ExecutorService fetching = Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon().name("headscan-fetch").unstarted(r));
        List<Future<Fetched>> ahead = new ArrayList<>(java.util.Collections.nCopies(n, null));
        int submitted = 0;
        try {
            for (int i = 0; i < n; i++) {
                Checkpoint c = checkpoints.get(i);
                long c0 = System.nanoTime();
                // a pinned Hub revision whose rows are all here already needs no download
                Optional<ModelInfo> done = alreadyDone(c);
                if (done.isPresent()) {
                    skipped++;
                    listener.done(c, done.get(), true, List.of(), 0, (System.nanoTime() - c0) / 1e9);
                    progress.advance(1);
                    continue;
                }
                while (submitted < n && submitted <= i + prefetch) {
                    Checkpoint next = checkpoints.get(submitted);
                    if (submitted > i && alreadyDone(next).isPresent()) {
                        submitted++;
                        continue;
                    }
                    ahead.set(submitted, fetching.submit(() -> fetch(next)));
                    submitted++;
                }
                if (ahead.get(i) == null) ahead.set(i, fetching.submit(() -> fetch(c)));
                Fetched f;
                try {
                    f = ahead.get(i).get();
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof Error err && endsTheSweep(err)) throw err;
                    failed++;
                    fail(c, oneLine(e.getCause()), e.getCause());
                    progress.advance(1);
                    if (failFast) break;
                    continue;
                } finally {
                    ahead.set(i, null);
                }
                bytes += f.bytes();
                long k0 = System.nanoTime();
                try {
                    Outcome o = one(c, f);
                    if (o.skipped) skipped++;
                    else computed++;
                    listener.done(c, o.info, o.skipped, o.top, f.seconds(), (System.nanoTime() - k0) / 1e9);
                } catch (Throwable e) {
                    // the sink has rolled back whatever this checkpoint had begun to write
                    if (e instanceof InterruptedException || endsTheSweep(e)) throw e;
                    Optional<String> broken = backend.fault();   // a GPU that faulted would fail every checkpoint after this one
                    if (broken.isPresent()) throw new BackendFault(broken.get(), e);
                    failed++;
                    fail(c, oneLine(e), e);
                    if (failFast) break;
                } finally {
                    f.release().run();
                    progress.advance(1);
                }
            }
        } finally {
            // fetches queued but never started are cancelled (shutdownNow only takes them off the queue: waiting for one
            // would never end); one under way is interrupted and waited for, so that its downloads can be released
            for (Runnable never : fetching.shutdownNow()) {
                if (never instanceof Future<?> queued) queued.cancel(false);
            }
            for (Future<Fetched> f : ahead) {
                if (f == null) continue;
                try {   // fetched ahead but never computed (fail-fast, an error): its downloads go too
                    f.get().release().run();
                } catch (ExecutionException | java.util.concurrent.CancellationException | InterruptedException e) {
                    // nothing was fetched, or the fetch itself cleaned up
                }
            }
        }
        progress.done();
        return new Summary(computed, skipped, failed, (System.nanoTime() - t0) / 1e9, bytes);
    }

    /** Fetches on the fetch thread; a local checkpoint is read ahead by the kernel instead. */
    private Fetched fetch(Checkpoint c) throws Exception {
        Fetched f = fetcher.fetch(c);
        if (f.repo() == null) readAhead(f.path());
        return f;
    }

    /** For a pinned Hub checkpoint whose every definition is stored: its stored description; else empty. */
    private Optional<ModelInfo> alreadyDone(Checkpoint c) throws Exception {
        return pinnedDone(c, analyses, sink);
    }

    /**
     * For a Hub checkpoint pinned to a commit whose every definition of {@code analyses} the sink holds: its stored
     * description (known before anything is fetched); else empty. Local checkpoints need their files to tell.
     */
    public static Optional<ModelInfo> pinnedDone(Checkpoint c, Analyses analyses, ResultSink sink) throws Exception {
        if (c.commit() == null || isLocal(c)) return Optional.empty();
        String repo = new io.headscan.hub.RepoId(c.spec()).canonical();
        String source = hubSource(repo, c.commit()), content = hubContent(c.commit());
        Optional<int[]> shape = sink.storedShape(source, content);
        if (shape.isEmpty()) return Optional.empty();
        int[] s = shape.get();
        Dims dims = new Dims(Math.max(1, s[3]), s[2], s[0], s[1], Math.max(1, 4 * s[2]), 1);
        ModelInfo probe = new ModelInfo(c.spec(), c.revision(), null, 0, null, null, c.label(), c.stepOrNull(), null, s[0], s[1], s[2], s[3], null,
                source, c.commit(), content, null, null);
        for (String k : analyses.keys(dims)) if (!sink.isDone(probe, k)) return Optional.empty();
        return Optional.of(probe);
    }

    /**
     * The backend itself can no longer compute (a GPU fault): the sweep stops, the checkpoint in hand rolled back and not
     * recorded as failed (the file was not at fault). A rerun, on another backend or in a fresh process, resumes.
     */
    public static final class BackendFault extends RuntimeException {
        BackendFault(String message, Throwable cause) {
            super(message + "; the sweep stops here (a rerun resumes; --backend openblas computes on the CPU)", cause);
        }
    }

    private void fail(Checkpoint c, String message, Throwable cause) throws Exception {
        sink.error(c.spec(), isLocal(c) ? null : c.revision(), message);
        listener.failed(c, message, cause);
    }

    /**
     * Whether a failure ends the whole sweep rather than one checkpoint. Running out of stack or of memory is the
     * checkpoint's own (a file whose structure nests without end, tensors too large for the heap): unwinding frees what
     * it used, so it is recorded and the sweep goes on. A fault reading a mapped file that changed underneath is the
     * file's too. Any other {@link VirtualMachineError} ({@link InternalError}, {@link UnknownError}) says the JVM
     * itself can no longer be trusted, so nothing more is computed or written.
     */
    static boolean endsTheSweep(Throwable t) {
        if (t instanceof StackOverflowError || t instanceof OutOfMemoryError) return false;
        if (t instanceof InternalError && io.headscan.format.SafetensorsFile.translate(t, null) != null) return false;
        return t instanceof VirtualMachineError;
    }

    /** A failure as the one line the errors table and the listener get. */
    static String oneLine(Throwable e) {
        if (e instanceof java.nio.file.NoSuchFileException n) return n.getFile() + ": no such file";
        if (e instanceof StackOverflowError) return "ran out of stack (StackOverflowError) while opening or computing this checkpoint";
        if (e instanceof OutOfMemoryError) {
            return "ran out of memory (OutOfMemoryError" + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ", max heap "
                    + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB) while opening or computing this checkpoint";
        }
        if (e instanceof InternalError && io.headscan.format.SafetensorsFile.translate(e, null) != null) {
            return "a mapped file of this checkpoint was modified or truncated while it was read (" + e.getMessage() + ")";
        }
        String m = e.getMessage();
        String line = m == null ? e.toString() : e instanceof Error ? e.getClass().getName() + ": " + m : m;
        return io.headscan.format.Printable.line(line.replace('\n', ' '));
    }

    private record Outcome(ModelInfo info, boolean skipped, List<HeadId> top) {}

    /** Asks the kernel to read a local checkpoint's weights ahead: free when they are cached already. */
    private static void readAhead(Path p) {
        try {
            Path file = Model.resolveWeights(p);
            if (Files.isRegularFile(file) && !file.getFileName().toString().endsWith(".index.json")) io.headscan.Posix.readAhead(file);
        } catch (RuntimeException e) {
            // opening it reports the problem
        }
    }

    private Outcome one(Checkpoint c, Fetched f) throws Exception {
        try (Model m = Model.open(f.path())) {
            ModelInfo info = info(c, m, f);
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

    private ModelInfo info(Checkpoint c, Model m, Fetched f) throws IOException {
        Dims d = m.dims();
        Path file = m.path();
        long size = m.file().fileSize();
        String fileKey = size + ":" + Files.getLastModifiedTime(file).toMillis();
        String sha = m.file().files().size() == 1 ? CheckpointIdentity.known(file, CacheFolder.root()).orElse(null) : null;
        TreeMap<String, Integer> dtypes = new TreeMap<>();
        for (TensorInfo t : m.tensors()) dtypes.merge(t.dtype().name(), 1, Integer::sum);
        StringBuilder dt = new StringBuilder();
        dtypes.forEach((k, v) -> dt.append(dt.isEmpty() ? "" : ",").append(k).append(':').append(v));
        if (!m.zeroCopy()) dt.append(" (widened to F32)");
        String source, content, revision;
        if (f.source() != null) {
            source = f.source();
            content = f.content();
            revision = null;
        } else if (f.repo() != null && f.commit() != null) {
            source = hubSource(f.repo(), f.commit());
            content = hubContent(f.commit());
            revision = c.revision();
        } else {
            source = "file:" + file.toRealPath();
            content = ContentIdentity.of(m, CacheFolder.root());
            revision = null;   // --revision never applies to local paths
        }
        return new ModelInfo(c.spec(), revision, file.toString(), size, fileKey, sha, c.label(),
                c.step().isPresent() ? c.step().getAsLong() : null, d.architectureName(m.family()), d.layers(), d.heads(), d.dModel(), d.vocab(), dt.toString(),
                source, f.commit(), content, m.file().format().label(), m.family().modelType());
    }

    /** The score rows of every variant and seed still to do; returns the top two heads of the first. */
    private List<HeadId> score(Model m, List<String> todo, List<ResultRow> rows) {
        Dims d = m.dims();
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
                    if (analyses.fixedBags().gpt2Tokens() && !io.headscan.tokenize.Tokenizers.isGpt2Bpe(m.path(), d.vocab())) {
                        throw new IllegalArgumentException("sweep --corpus tokenizes the corpus once, with GPT-2's BPE, and this checkpoint's tokenizer is "
                                + "not GPT-2's (" + io.headscan.tokenize.Tokenizers.expectedFile(m.path()) + "): score it on its own with score --corpus");
                    }
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
    private void fullVocabulary(Model m, List<String> todo, List<ResultRow> rows) {
        Dims d = m.dims();
        Variant v = analyses.fullVariant();
        NonFinite.Report nf = NonFinite.check(m, NonFinite.Circuit.QK, v);
        NonFinite.Report nfOv = NonFinite.check(m, NonFinite.Circuit.OV, v);
        if ((!nf.clean() || !nfOv.clean()) && !analyses.allowNonFinite()) {
            throw new IllegalArgumentException((nf.clean() ? nfOv : nf).describe(d) + " (--allow-nonfinite to compute the other heads)");
        }
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            Matrix wee = Matrix.dense(io.headscan.OffHeap.allocate(arena, (long) d.vocab() * d.dModel() * Float.BYTES), d.vocab(), d.dModel());
            new io.headscan.circuits.EffectiveEmbedding(m, backend, v).computeAll(wee, Progress.NONE);
            io.headscan.circuits.EmbeddingTable.roundAsStored(m, wee);   // as fullvocab and ov read it from the cache
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
    private void weights(Model m, List<ResultRow> rows) {
        String key = Analyses.WEIGHTS_KEY;
        for (TensorInfo t : m.tensors()) {
            if (!TensorStatistics.applies(t.dtype()) || t.dtype() == DType.BOOL || m.buffer(t)) continue;   // masks, rotary frequencies
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
        Dims d = m.dims();
        for (int l = 0; l < d.layers(); l++) {
            for (int h = 0; h < d.heads(); h++) {
                HeadId id = new HeadId(l, h);
                Matrix[] ws = {m.wq(id).stored(), m.wk(id).stored(), m.wv(id).stored(), m.wo(id).stored()};   // norms need no orientation
                String[] names = {"frobenius_W_Q", "frobenius_W_K", "frobenius_W_V", "frobenius_W_O"};
                for (int i = 0; i < 4; i++) rows.add(new ResultRow("weights", key, null, null, l, h, null, names[i], TensorStatistics.of(ws[i]).l2()));
            }
        }
    }
}
