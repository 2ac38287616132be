package io.headscan.sweep;

import io.headscan.Progress;
import io.headscan.model.HeadId;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The sweep run by a cluster scheduler instead of in this process: each checkpoint a task that fetches, maps and
 * computes it on an executor, each checkpoint's rows committed on their own into a dataset of Parquet files with the
 * tables of a sweep's DuckDB file (docs/spark.md). Implemented by {@code io.headscan.spark.SparkDriver} (Apache Spark),
 * found with {@link java.util.ServiceLoader} so that this code needs no Spark on its class path.
 */
public interface DistributedSweep {

    /** The master named as "the one the scheduler's own configuration gives" (spark-submit's {@code --master}). */
    String FROM_CONFIGURATION = "from-configuration";

    /**
     * What to run: the checkpoints and analyses as for {@link Sweep}, the scheduler's master URL ({@code local[2]},
     * {@code spark://host:port}, {@code yarn}, {@code k8s://…}; null: the one its own configuration names, as under
     * spark-submit), the dataset folder or URI, the command line (recorded in {@code runs}), the backend for executors
     * ({@code auto}, {@code openblas}, {@code java}, {@code cublas}) and TF32, whether to keep downloads, and settings
     * passed through to the scheduler ({@code spark.executor.memory} …).
     */
    record Job(List<Checkpoint> checkpoints, Analyses analyses, String master, String out, String commandLine, String backend, boolean tf32,
               boolean keepDownloads, Map<String, String> settings) {}

    /** What a driver tells its caller. */
    interface Listener {
        /** A checkpoint is committed ({@code skipped}: it was done already), computed on {@code executor}. */
        void done(Checkpoint c, ModelInfo info, boolean skipped, List<HeadId> topHeads, String executor, double fetchSeconds, double computeSeconds);

        /** A checkpoint failed; {@code message} is one line (stored in the errors table). */
        void failed(Checkpoint c, String executor, String message);

        /** A line worth showing (the job's web UI, a lost executor). */
        default void note(String line) {}
    }

    /** Runs the job and returns how it went; {@code progress} counts checkpoints. */
    Sweep.Summary run(Job job, Listener listener, Progress progress) throws Exception;

    /** The implementation on the class path, if any. */
    static Optional<DistributedSweep> find() {
        return java.util.ServiceLoader.load(DistributedSweep.class).findFirst();
    }
}
