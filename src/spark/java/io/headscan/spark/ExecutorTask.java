package io.headscan.spark;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.compute.BackendKind;
import io.headscan.compute.Backends;
import io.headscan.compute.cuda.CublasBackend;
import io.headscan.hub.HubEnvironment;
import io.headscan.hub.HubException;
import io.headscan.hub.ModelResolver;
import io.headscan.model.HeadId;
import io.headscan.sweep.Checkpoint;
import io.headscan.sweep.HubFetcher;
import io.headscan.sweep.ModelInfo;
import io.headscan.sweep.ResultRow;
import io.headscan.sweep.ResultSink;
import io.headscan.sweep.Sweep;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;

/**
 * What one task does on an executor: resolve its checkpoint there (a Hub id into the executor's own Hugging Face cache,
 * a path on a file system every node sees, a Hadoop URI copied to local disk first), map it, compute what is not done,
 * and hand the rows back. It runs the very {@link Sweep} of the single-process command over this one checkpoint, with
 * a sink that only collects, so the numbers are the same by construction.
 *
 * <p>The backend: with a GPU assigned by Spark ({@code spark.task.resource.gpu.amount}), cuBLAS bound to that address
 * on this thread (never device 0 by assumption); otherwise OpenBLAS with as many threads as the task has cores.
 *
 * <p>Two kinds of failure. One of the checkpoint (a bad or corrupt file, a refused config, weights it cannot use, a
 * revision that does not exist) is its outcome: the driver records it and nothing is retried. One of the task (the
 * download's network or I/O, a full disk, a GPU that does not open, faulted or is gone, an error of this code) is a
 * {@link TaskFailure}, thrown, so that Spark runs the task again, elsewhere when it can.
 */
final class ExecutorTask {

    private ExecutorTask() {}

    static TaskOutcome run(TaskInput in) throws Exception {
        TaskContext tc = TaskContext.get();
        int cpus = tc == null ? 1 : Math.max(1, tc.cpus());
        int attempt = tc == null ? 0 : tc.attemptNumber();
        String executor = executorName();
        String address = gpuAddress(tc);
        Integer asked = null;   // the CUDA device this task opens, as Spark assigned it
        if (address != null) {
            try {
                asked = Integer.parseInt(address.strip());
            } catch (NumberFormatException e) {
                throw new TaskFailure("the GPU address '" + address + "' that Spark assigned on " + executor + " is not a CUDA device number",
                        executor, null, attempt, null);
            }
        }
        Backend backend;
        try {
            backend = backend(in, cpus, asked);
        } catch (RuntimeException | LinkageError e) {
            String what = asked != null ? "GPU " + asked + " (assigned by Spark) on " + executor : "the " + in.backend() + " backend on " + executor;
            throw new TaskFailure(what + ": " + SparkDriver.oneLine(e), executor, asked, attempt, e);
        }
        // the device as the backend that computes has it, not as the address string said
        Integer gpu = backend instanceof CublasBackend c ? c.device() : null;
        try (backend) {
            DoneSink sink = new DoneSink(in.done(), in.shapes());
            Capture seen = new Capture();
            ModelResolver resolver = new ModelResolver(HubEnvironment.fromEnvironment(), Progress.NONE, s -> {}).transientDownloads(true);
            RecordingFetcher fetcher = new RecordingFetcher(new HadoopFetcher(new HubFetcher(resolver, in.keepDownloads())));
            Sweep.Summary s = new Sweep(backend, in.analyses(), sink, fetcher, seen, false).prefetch(0).run(List.of(in.checkpoint()), Progress.NONE);
            if (seen.failure != null) {
                if (fetcher.failure != null && transientFetch(fetcher.failure)) {
                    throw new TaskFailure(seen.failure + " (on " + executor + ")", executor, gpu, attempt, fetcher.failure);
                }
                if (tasksFault(seen.cause)) {
                    throw new TaskFailure(seen.failure + " (on " + executor + ")", executor, gpu, attempt, seen.cause);
                }
                String unusable = gpu == null ? null : gpuUnusable(gpu, in.tf32());
                if (unusable != null) {
                    throw new TaskFailure("GPU " + gpu + " on " + executor + " failed (" + seen.failure + ") and does not open any more: " + unusable,
                            executor, gpu, attempt, null);
                }
                return new TaskOutcome(null, List.of(), List.of(), List.of(), false, seen.failure, executor, gpu, attempt, 0, 0, s.bytesFetched());
            }
            return new TaskOutcome(seen.info, sink.definitions, sink.rows, seen.top, seen.skipped, null, executor, gpu, attempt, seen.fetch,
                    seen.compute, s.bytesFetched());
        } catch (TaskFailure | InterruptedException e) {
            throw e;
        } catch (Sweep.BackendFault e) {
            throw new TaskFailure((gpu != null ? "GPU " + gpu + " on " : "the backend on ") + executor + ": " + SparkDriver.oneLine(e), executor, gpu,
                    attempt, e);
        } catch (Exception e) {
            throw new TaskFailure("internal error on " + executor + ": " + SparkDriver.oneLine(e), executor, gpu, attempt, e);
        }
    }

    /**
     * Whether a checkpoint's failure while it was opened or computed is the task's rather than the file's: the storage
     * failed to read it, the backend failed (a GPU error; a CPU backend does not fail on a file's numbers), the executor
     * ran out of heap while computing (a file whose reading would need too much is refused by the parsers instead), or
     * headscan's own code failed. A refused or damaged file, weights it cannot use or a head it does not have are the
     * checkpoint's: another executor would refuse them the same way.
     */
    static boolean tasksFault(Throwable t) {
        if (t == null) return false;
        if (t instanceof io.headscan.format.CheckpointFormatException f) return f.readFailed();
        return t instanceof io.headscan.compute.BackendException || t instanceof OutOfMemoryError || t instanceof IOException
                || t instanceof java.io.UncheckedIOException || t instanceof NullPointerException || t instanceof IllegalStateException
                || t instanceof ClassCastException || t instanceof IndexOutOfBoundsException || t instanceof ArithmeticException;
    }

    /**
     * Whether a failed fetch is the task's rather than the checkpoint's: the network, the Hub's or the CDN's answer, a
     * transfer that arrived damaged, the disk, a remote file system's copy. A repository, revision or file that does not
     * exist, or that needs a token, is the checkpoint's: another executor would fail the same way.
     */
    static boolean transientFetch(Throwable e) {
        if (e instanceof HubException h) {
            return switch (h.kind()) {
                case NETWORK, BAD_RESPONSE, SIZE_MISMATCH, HASH_MISMATCH, DISK_FULL, IO -> true;
                case REPO_NOT_FOUND, ENTRY_NOT_FOUND, REVISION_NOT_FOUND, UNAUTHORIZED, GATED, OFFLINE_NOT_CACHED, NOT_A_MODEL -> false;
            };
        }
        return e instanceof CopyFailure;
    }

    /**
     * Why GPU {@code device} cannot be used any more (CUDA kept a fault, the device is gone), or null when it opens as
     * before: asked after a checkpoint failed on it, so that the GPU's failure is retried elsewhere and the file's is not.
     */
    private static String gpuUnusable(int device, boolean tf32) {
        try (CublasBackend probe = CublasBackend.open(Optional.empty(), tf32, device)) {
            return null;
        } catch (RuntimeException | LinkageError e) {
            return SparkDriver.oneLine(e);
        }
    }

    private static String executorName() {
        String id = SparkEnv.get() == null ? "?" : SparkEnv.get().executorId();
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "?";
        }
        return "executor " + id + "@" + host;
    }

    /** The GPU address Spark assigned this task, or null. */
    static String gpuAddress(TaskContext tc) {
        if (tc == null) return null;
        ResourceInformation r = tc.resourcesJMap().get("gpu");
        if (r == null || r.addresses().length == 0) return null;
        return r.addresses()[0];
    }

    private static Backend backend(TaskInput in, int cpus, Integer device) {
        if (device != null) return CublasBackend.open(Optional.empty(), in.tf32(), device);
        BackendKind kind = switch (in.backend()) {
            case "java" -> BackendKind.JAVA;
            case "cublas" -> BackendKind.CUBLAS;
            default -> BackendKind.OPENBLAS;   // auto: no GPU assigned, so the CPU
        };
        return Backends.open(kind, new Backends.Options(Optional.empty(), cpus, Optional.empty(), in.tf32())).backend();
    }

    /** A sink that answers from what the driver said is done (content identity to definitions and stored shape) and keeps the rows. */
    static final class DoneSink implements ResultSink {
        private final Map<String, Set<String>> done;
        private final Map<String, int[]> shapes;
        List<String> definitions = List.of();
        List<ResultRow> rows = List.of();

        DoneSink(Map<String, Set<String>> done, Map<String, int[]> shapes) {
            this.done = done;
            this.shapes = shapes;
        }

        @Override
        public void begin(String options, String version, String backend, String machine) {}

        @Override
        public boolean isDone(ModelInfo model, String definition) {
            Set<String> d = done.get(model.contentId());
            return d != null && d.contains(definition);
        }

        @Override
        public Optional<int[]> storedShape(String source, String contentId) {
            return Optional.ofNullable(shapes.get(contentId));
        }

        @Override
        public void write(ModelInfo model, List<String> defs, List<ResultRow> r) {
            definitions = new ArrayList<>(defs);
            rows = new ArrayList<>(r);
        }

        @Override
        public void error(String spec, String revision, String message) {}

        @Override
        public void close() {}
    }

    private static final class Capture implements Sweep.Listener {
        ModelInfo info;
        boolean skipped;
        List<HeadId> top = List.of();
        double fetch, compute;
        String failure;
        Throwable cause;

        @Override
        public void failed(Checkpoint c, String message, Throwable t) {
            failure = message;
            cause = t;
        }

        @Override
        public void done(Checkpoint c, ModelInfo i, boolean s, List<HeadId> t, double f, double k) {
            info = i;
            skipped = s;
            top = new ArrayList<>(t);
            fetch = f;
            compute = k;
        }

        @Override
        public void failed(Checkpoint c, String message) {
            failure = message;
        }
    }

    /** The fetcher, remembering what the fetch threw (the sweep passes on only its message). */
    private static final class RecordingFetcher implements Sweep.Fetcher {
        private final Sweep.Fetcher next;
        volatile Throwable failure;

        RecordingFetcher(Sweep.Fetcher next) {
            this.next = next;
        }

        @Override
        public Sweep.Fetched fetch(Checkpoint c) throws Exception {
            try {
                return next.fetch(c);
            } catch (Exception | Error e) {
                failure = e;
                throw e;
            }
        }
    }

    /** A remote file system's copy failed part-way (not: the file is not there). */
    static final class CopyFailure extends IOException {
        CopyFailure(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** A Hadoop URI (s3a://, hdfs://, file:/...) is copied to local disk first, and removed after use. */
    private record HadoopFetcher(Sweep.Fetcher next) implements Sweep.Fetcher {
        @Override
        public Sweep.Fetched fetch(Checkpoint c) throws Exception {
            String spec = c.spec();
            int colon = spec.indexOf(':');
            if (colon < 2 || !spec.substring(0, colon).matches("[a-zA-Z][a-zA-Z0-9+.-]*") || !spec.substring(colon).startsWith(":/")) return next.fetch(c);
            long t0 = System.nanoTime();
            org.apache.hadoop.fs.Path src = new org.apache.hadoop.fs.Path(spec);
            var fs = src.getFileSystem(new org.apache.hadoop.conf.Configuration());
            Path tmp = Files.createTempDirectory("headscan-checkpoint-");
            Path local = tmp.resolve(src.getName().isEmpty() ? "checkpoint" : src.getName());
            long bytes;
            StringBuilder remote = new StringBuilder();
            try {
                // what the remote side says of every file (path, length, modification time): the copy's identity
                var files = fs.listFiles(src, true);
                while (files.hasNext()) {
                    var f = files.next();
                    remote.append(f.getPath()).append(' ').append(f.getLen()).append(' ').append(f.getModificationTime()).append('\n');
                }
                fs.copyToLocalFile(false, src, new org.apache.hadoop.fs.Path(local.toUri()), true);
                bytes = fs.getContentSummary(src).getLength();
            } catch (java.io.FileNotFoundException e) {
                deleteTree(tmp);
                throw new IOException(spec + ": not found: " + e.getMessage(), e);
            } catch (IOException | RuntimeException e) {
                deleteTree(tmp);
                throw new CopyFailure(spec + ": cannot copy to local disk: " + e.getMessage(), e);
            }
            String content = "remote:" + java.util.UUID.nameUUIDFromBytes(remote.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return Sweep.Fetched.copied(local, "uri:" + fs.makeQualified(src), content, bytes, (System.nanoTime() - t0) / 1e9, () -> deleteTree(tmp));
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            for (Path q : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
        }
    }
}
