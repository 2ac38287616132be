package io.headscan.spark;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.compute.BackendKind;
import io.headscan.compute.Backends;
import io.headscan.compute.cuda.CublasBackend;
import io.headscan.hub.HubEnvironment;
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
 */
final class ExecutorTask {

    private ExecutorTask() {}

    static TaskOutcome run(TaskInput in) {
        TaskContext tc = TaskContext.get();
        int cpus = tc == null ? 1 : Math.max(1, tc.cpus());
        String executor = executorName();
        String gpu = gpuAddress(tc);
        Backend backend;
        try {
            backend = backend(in, cpus, gpu);
        } catch (RuntimeException | LinkageError e) {
            String why = (gpu != null ? "GPU " + gpu + " (assigned by Spark) on " + executor + ": " : "backend on " + executor + ": ") + e.getMessage();
            return new TaskOutcome(null, List.of(), List.of(), List.of(), false, why.replace('\n', ' '), executor, gpu, 0, 0, 0);
        }
        try (backend) {
            DoneSink sink = new DoneSink(in.done(), in.shapes());
            Capture seen = new Capture();
            ModelResolver resolver = new ModelResolver(HubEnvironment.fromEnvironment(), Progress.NONE, s -> {}).transientDownloads(true);
            Sweep.Fetcher fetcher = new HadoopFetcher(new HubFetcher(resolver, in.keepDownloads()));
            Sweep.Summary s = new Sweep(backend, in.analyses(), sink, fetcher, seen, false).prefetch(0).run(List.of(in.checkpoint()), Progress.NONE);
            if (seen.failure != null) {
                return new TaskOutcome(null, List.of(), List.of(), List.of(), false, seen.failure, executor, gpu, 0, 0, s.bytesFetched());
            }
            return new TaskOutcome(seen.info, sink.definitions, sink.rows, seen.top, seen.skipped, null, executor, gpu, seen.fetch, seen.compute,
                    s.bytesFetched());
        } catch (Exception e) {
            return new TaskOutcome(null, List.of(), List.of(), List.of(), false, String.valueOf(e.getMessage()).replace('\n', ' '), executor, gpu, 0, 0, 0);
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

    private static Backend backend(TaskInput in, int cpus, String gpu) {
        if (gpu != null) {
            int device;
            try {
                device = Integer.parseInt(gpu.strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("the address '" + gpu + "' is not a CUDA device number");
            }
            return CublasBackend.open(Optional.empty(), in.tf32(), device);
        }
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
            } catch (IOException | RuntimeException e) {
                deleteTree(tmp);
                throw new IOException(spec + ": cannot copy to local disk: " + e.getMessage(), e);
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
