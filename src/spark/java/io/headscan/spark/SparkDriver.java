package io.headscan.spark;

import io.headscan.Progress;
import io.headscan.sweep.Checkpoint;
import io.headscan.sweep.DistributedSweep;
import io.headscan.sweep.ModelInfo;
import io.headscan.sweep.Sweep;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaFutureAction;
import org.apache.spark.api.java.JavaSparkContext;
import scala.Tuple2;

/**
 * The sweep on Apache Spark (docs/spark.md). The driver keeps a window of checkpoints in flight, each one Spark job of
 * one task, so that free executors pull the next checkpoint and a slow one holds up nothing else; Spark reruns a task
 * whose executor was lost or that threw a {@link TaskFailure} (local mode too), and only one attempt's result comes
 * back; a task that failed its last attempt becomes the checkpoint's error. Each finished checkpoint is committed on its
 * own into the dataset ({@link Dataset}), once per run however many times it was named: a driver or job that dies
 * loses at most the checkpoints in flight, and running the command again skips what is committed (same definition, same
 * pinned commit or content identity).
 */
public final class SparkDriver implements DistributedSweep {

    @Override
    public Sweep.Summary run(Job job, Listener listener, Progress progress) throws Exception {
        long t0 = System.nanoTime();
        SparkConf conf = new SparkConf().setAppName("headscan sweep: " + describe(job));
        if (job.master() != null) conf.setMaster(job.master());
        if (!conf.contains("spark.master")) throw new IllegalArgumentException("no Spark master: give --spark MASTER (local[2], spark://host:7077, yarn, k8s://...)");
        // executors need native access for FFM (OpenBLAS, cuBLAS); the job jar is the one this driver runs from
        String opts = conf.get("spark.executor.extraJavaOptions", "");
        if (!opts.contains("--enable-native-access")) opts += " --enable-native-access=ALL-UNNAMED";
        // a task's work is BLAS and C kernels: the quick compiler alone starts an executor sooner and leaves the cores
        // to the work (bench/SPARK-RESULTS.md); a -XX:TieredStopAtLevel of the user's own wins
        if (!opts.contains("TieredStopAtLevel") && !opts.contains("TieredCompilation")) opts += " -XX:TieredStopAtLevel=1";
        conf.set("spark.executor.extraJavaOptions", opts.strip());
        // in local mode the executor is this JVM, which has the jar on its class path already
        String jar = System.getProperty("headscan.jar");
        if (jar != null && !conf.contains("spark.jars") && !conf.get("spark.master").startsWith("local")) conf.set("spark.jars", jar);
        conf.setIfMissing("spark.task.maxFailures", "4");
        conf.setIfMissing("spark.ui.showConsoleProgress", "false");
        for (var e : job.settings().entrySet()) conf.set(e.getKey(), e.getValue());
        conf.setMaster(withRetries(conf.get("spark.master"), conf.get("spark.task.maxFailures")));
        long runId;
        int writes = 0;
        java.util.Set<Long> committedHere = new java.util.HashSet<>();
        int computed = 0, skipped = 0, failed = 0;
        long bytes = 0;
        // the context starts (a second or two) while this thread opens the dataset, records the run and reads what is
        // done. It starts on a thread of its own with this thread's class loader: Spark's threads inherit it, and under
        // spark-submit's cluster mode only that loader (not the system one a pool thread has) sees the job jar.
        ClassLoader loader = Thread.currentThread().getContextClassLoader();
        CompletableFuture<JavaSparkContext> starting = CompletableFuture.supplyAsync(() -> new JavaSparkContext(conf), r -> {
            Thread t = new Thread(r, "headscan-spark-start");
            t.setContextClassLoader(loader);
            t.setDaemon(true);
            t.start();
        });
        Dataset out;
        Dataset.Done done;
        try {
            out = new Dataset(job.out(), hadoopConfiguration(conf));
            // after every earlier run of this dataset, whatever this machine's clock says (the write order decides
            // which rows are current); the clock's microseconds where they are larger, for readable ids
            runId = nextRunId(out);
            out.run(runId, job.commandLine(), version(), "spark " + conf.get("spark.master") + ", executors: " + job.backend(), machine());
            done = out.read();
        } catch (Exception e) {
            starting.thenAccept(JavaSparkContext::close);
            throw e;
        }
        try (JavaSparkContext sc = started(starting)) {
            sc.setLogLevel(System.getProperty("headscan.spark.logLevel", "WARN"));
            if (sc.sc().uiWebUrl().isDefined()) listener.note("Spark UI: " + sc.sc().uiWebUrl().get());
            int window = Math.max(2, 2 * sc.defaultParallelism());
            List<Checkpoint> queue = new ArrayList<>(job.checkpoints());
            Map<Checkpoint, JavaFutureAction<List<TaskOutcome>>> inFlight = new LinkedHashMap<>();
            progress.start("sweep", queue.size(), "checkpoints");
            Iterator<Checkpoint> next = queue.iterator();
            while (next.hasNext() || !inFlight.isEmpty()) {
                while (next.hasNext() && inFlight.size() < window) {
                    Checkpoint c = next.next();
                    ModelInfo pinned = Sweep.pinnedDone(c, job.analyses(), new ExecutorTask.DoneSink(done.definitions(), done.shapes())).orElse(null);
                    if (pinned != null) {   // a pinned Hub revision already committed: no task, no download
                        skipped++;
                        listener.done(c, pinned, true, List.of(), "driver", 0, 0);
                        progress.advance(1);
                        continue;
                    }
                    TaskInput in = new TaskInput(forExecutors(c), job.analyses(), job.backend(), job.tf32(), job.keepDownloads(), done.definitions(),
                            done.shapes());
                    sc.setJobDescription("headscan sweep " + c.display() + ": " + describe(job));
                    inFlight.put(c, sc.parallelize(List.of(in), 1).map(ExecutorTask::run).collectAsync());
                }
                Checkpoint finished = null;
                for (var e : inFlight.entrySet()) {
                    if (e.getValue().isDone()) {
                        finished = e.getKey();
                        break;
                    }
                }
                if (finished == null) {
                    Thread.sleep(20);
                    continue;
                }
                JavaFutureAction<List<TaskOutcome>> f = inFlight.remove(finished);
                TaskOutcome o;
                try {
                    o = f.get().getFirst();
                } catch (java.util.concurrent.ExecutionException e) {
                    // Spark gave up on the task (spark.task.maxFailures attempts); its last attempt's failure, when it
                    // was one of ours, says where it ran
                    TaskFailure last = TaskFailure.in(e);
                    String why = (last != null ? last.getMessage() : oneLine(e.getCause())) + " (the task failed " + attempts(conf.get("spark.master"), conf.get("spark.task.maxFailures"))
                            + " times)";
                    failed++;
                    Dataset.Where where = last == null ? null : last.where();
                    out.error(runId, finished.spec(), Sweep.isLocal(finished) ? null : finished.revision(), why, where);
                    listener.failed(finished, where == null ? "?" : describe(where), why);
                    progress.advance(1);
                    continue;
                }
                bytes += o.bytesFetched();
                if (o.info() != null) o = withSpec(o, finished.spec());   // stored as the user named it, like the single-process sweep
                long modelId = o.info() == null || o.definitions().isEmpty() ? -1 : Dataset.modelId(o.info(), o.definitions());
                if (o.failure() != null) {
                    failed++;
                    out.error(runId, finished.spec(), Sweep.isLocal(finished) ? null : finished.revision(), o.failure(), o.where());
                    listener.failed(finished, describe(o.where()), o.failure());
                } else if (o.skipped() || o.definitions().isEmpty() || !committedHere.add(modelId)) {
                    // done before, or committed by this run already (the same checkpoint named twice): no second write
                    skipped++;
                    listener.done(finished, o.info(), true, List.of(), describe(o.where()), o.fetchSeconds(), o.computeSeconds());
                } else {
                    out.commit(runId, String.format(java.util.Locale.ROOT, "%019d-%010d", runId, ++writes), modelId, o.info(), o.definitions(), o.rows(),
                            o.where(), o.fetchSeconds(), o.computeSeconds());
                    computed++;
                    listener.done(finished, o.info(), false, o.top(), describe(o.where()), o.fetchSeconds(), o.computeSeconds());
                }
                progress.advance(1);
            }
            progress.done();
        }
        return new Sweep.Summary(computed, skipped, failed, (System.nanoTime() - t0) / 1e9, bytes);
    }

    /**
     * The Hadoop settings of the dataset's file system, as Spark makes them for its context: Hadoop's defaults and
     * files ({@code core-site.xml}, {@code HADOOP_CONF_DIR}) plus every {@code spark.hadoop.*} setting.
     */
    static Configuration hadoopConfiguration(SparkConf conf) {
        Configuration h = new Configuration();
        for (Tuple2<String, String> kv : conf.getAllWithPrefix("spark.hadoop.")) h.set(kv._1(), kv._2());
        return h;
    }

    private static JavaSparkContext started(CompletableFuture<JavaSparkContext> starting) throws Exception {
        try {
            return starting.join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof Exception x) throw x;
            throw e;
        }
    }

    /**
     * The checkpoint as executors must see it: a path that exists here made absolute (an executor runs in a folder of
     * its own; the path must be on a file system every node sees).
     */
    static Checkpoint forExecutors(Checkpoint c) {
        java.nio.file.Path p = java.nio.file.Path.of(c.spec());
        if (!java.nio.file.Files.exists(p) || p.isAbsolute()) return c;
        return new Checkpoint(p.toAbsolutePath().normalize().toString(), c.revision(), c.label(), c.stepOrNull(), c.commit());
    }

    private static TaskOutcome withSpec(TaskOutcome o, String spec) {
        ModelInfo i = o.info();
        ModelInfo named = new ModelInfo(spec, i.revision(), i.path(), i.sizeBytes(), i.fileKey(), i.sha256(), i.label(), i.step(), i.architecture(),
                i.layers(), i.heads(), i.dModel(), i.vocab(), i.dtypes(), i.source(), i.commit(), i.contentId(), i.format(), i.family());
        return new TaskOutcome(named, o.definitions(), o.rows(), o.top(), o.skipped(), o.failure(), o.executor(), o.gpu(), o.taskAttempt(),
                o.fetchSeconds(), o.computeSeconds(), o.bytesFetched());
    }


    /** Where a task ran, for the progress lines: "executor 1@host GPU 0". */
    static String describe(Dataset.Where w) {
        return w.executor() + (w.gpu() == null ? "" : " GPU " + w.gpu());
    }

    /**
     * Local mode with retries: {@code local[N]} (and {@code local}, {@code local[*]}) runs each task once whatever
     * spark.task.maxFailures says, so a download cut once would not be tried again; {@code local[N,F]} retries.
     */
    /** A run id larger than every run {@code d} holds: this clock's microseconds where they are larger (readable ids). */
    static long nextRunId(Dataset d) throws java.io.IOException {
        return Math.max(System.currentTimeMillis() * 1000 + (System.nanoTime() % 1000 + 1000) % 1000, d.lastRunId() + 1);
    }

    /** How many times Spark runs a failing task: F of a local[N,F] master, else spark.task.maxFailures. */
    static String attempts(String master, String maxFailures) {
        var m = java.util.regex.Pattern.compile("local\\[\\s*(?:[0-9]+|\\*)\\s*,\\s*([0-9]+)\\s*]").matcher(master.strip());
        return m.matches() ? m.group(1) : maxFailures.strip();
    }

    static String withRetries(String master, String maxFailures) {
        var m = java.util.regex.Pattern.compile("local(?:\\[\\s*([0-9]+|\\*)\\s*])?").matcher(master.strip());
        if (!m.matches()) return master;
        return "local[" + (m.group(1) == null ? "1" : m.group(1)) + "," + maxFailures.strip() + "]";
    }

    /** The analyses in a few words, for the application name and the jobs' descriptions in the Spark UI. */
    static String describe(Job job) {
        var a = job.analyses();
        List<String> parts = new ArrayList<>();
        if (a.score()) parts.add("score " + String.join(",", a.variants().stream().map(v -> v.id()).toList()) + " seeds " + a.seeds().size());
        if (a.weights()) parts.add("weights");
        if (a.fullvocabHeads() != null) parts.add("fullvocab " + a.fullvocabHeads());
        if (a.ovHeads() != null) parts.add("ov " + a.ovHeads());
        return job.checkpoints().size() + " checkpoints, " + String.join(", ", parts) + " " + io.headscan.sweep.Analyses.VERSION + a.numerics();
    }

    static String oneLine(Throwable e) {
        String m = e == null ? "unknown" : e.getMessage() == null ? e.toString() : e.getMessage();
        int nl = m.indexOf('\n');
        return io.headscan.format.Printable.line((nl < 0 ? m : m.substring(0, nl)).strip());
    }

    private static String version() {
        String v = SparkDriver.class.getPackage().getImplementationVersion();
        return "headscan " + (v == null ? "(development build)" : v) + ", Java " + Runtime.version() + ", Spark " + org.apache.spark.package$.MODULE$.SPARK_VERSION();
    }

    private static String machine() {
        return Runtime.getRuntime().availableProcessors() + " cores (driver), " + System.getProperty("os.name") + " " + System.getProperty("os.arch");
    }
}
