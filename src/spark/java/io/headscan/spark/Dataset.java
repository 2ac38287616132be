package io.headscan.spark;

import io.headscan.sweep.ModelInfo;
import io.headscan.sweep.ResultRow;
import java.io.IOException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Types;

/**
 * A distributed sweep's results, written by the driver (io.headscan.sweep.ParquetDataset describes the layout and how a
 * write is committed; docs/spark.md): each checkpoint's rows as Parquet files through Hadoop's file system API, so
 * {@code --out} may be a local folder, NFS, {@code hdfs://} or {@code s3a://}. A commit is one write with an id of its
 * own: its results, its models row, then its done rows, which name the write and make it count. Every file goes under a
 * temporary name and is renamed to a name no other write uses: nothing committed is deleted or replaced, so a driver
 * that dies at any point leaves each checkpoint either wholly committed or not at all.
 */
final class Dataset {

    private static final LogicalTypeAnnotation STRING = LogicalTypeAnnotation.stringType();
    private static final LogicalTypeAnnotation MICROS = LogicalTypeAnnotation.timestampType(true, LogicalTypeAnnotation.TimeUnit.MICROS);

    static final MessageType RESULTS = Types.buildMessage()
            .optional(PrimitiveTypeName.INT64).named("model_id")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("analysis")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("definition")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("variant")
            .optional(PrimitiveTypeName.INT64).named("seed")
            .optional(PrimitiveTypeName.INT32).named("layer")
            .optional(PrimitiveTypeName.INT32).named("head")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("tensor")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("metric")
            .optional(PrimitiveTypeName.DOUBLE).named("value")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("write_id")
            .named("results");

    static final MessageType MODELS = Types.buildMessage()
            .optional(PrimitiveTypeName.INT64).named("model_id")
            .optional(PrimitiveTypeName.INT64).named("run_id")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("spec")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("revision")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("path")
            .optional(PrimitiveTypeName.INT64).named("size_bytes")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("file_key")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("sha256")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("label")
            .optional(PrimitiveTypeName.INT64).named("step")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("architecture")
            .optional(PrimitiveTypeName.INT32).named("layers")
            .optional(PrimitiveTypeName.INT32).named("heads")
            .optional(PrimitiveTypeName.INT32).named("d_model")
            .optional(PrimitiveTypeName.INT32).named("vocab")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("dtypes")
            .optional(PrimitiveTypeName.INT64).as(MICROS).named("computed")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("source")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("commit_sha")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("content_id")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("format")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("family")
            .optional(PrimitiveTypeName.BOOLEAN).named("current")
            .optional(PrimitiveTypeName.INT64).named("superseded_by")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("executor")
            .optional(PrimitiveTypeName.INT32).named("gpu")
            .optional(PrimitiveTypeName.INT32).named("task_attempt")
            .optional(PrimitiveTypeName.DOUBLE).named("fetch_seconds")
            .optional(PrimitiveTypeName.DOUBLE).named("compute_seconds")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("write_id")
            .named("models");

    static final MessageType DONE = Types.buildMessage()
            .optional(PrimitiveTypeName.INT64).named("model_id")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("definition")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("write_id")
            .named("done");

    static final MessageType ERRORS = Types.buildMessage()
            .optional(PrimitiveTypeName.INT64).named("run_id")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("spec")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("revision")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("message")
            .optional(PrimitiveTypeName.INT64).as(MICROS).named("failed_at")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("executor")
            .optional(PrimitiveTypeName.INT32).named("gpu")
            .optional(PrimitiveTypeName.INT32).named("task_attempt")
            .named("errors");

    static final MessageType RUNS = Types.buildMessage()
            .optional(PrimitiveTypeName.INT64).named("run_id")
            .optional(PrimitiveTypeName.INT64).as(MICROS).named("started")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("options")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("version")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("backend")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("machine")
            .named("runs");

    private final Path root;
    private final FileSystem fs;
    private final Configuration conf;

    Dataset(String out, Configuration conf) throws IOException {
        this.conf = conf;
        Path p = new Path(out);
        this.fs = p.getFileSystem(conf);
        fs.setWriteChecksum(false);   // no .crc files beside the Parquet files (Parquet checks its own pages)
        this.root = fs.makeQualified(p);
        fs.mkdirs(root);
    }

    String root() {
        return root.toString();
    }

    /** A checkpoint computation's id: the same identity and definitions give the same id, whichever attempt computed it. */
    static long modelId(ModelInfo m, List<String> definitions) {
        String key = m.source() + "\n" + m.contentId() + "\n" + String.join("\n", new java.util.TreeSet<>(definitions));
        return UUID.nameUUIDFromBytes(key.getBytes(java.nio.charset.StandardCharsets.UTF_8)).getMostSignificantBits() & Long.MAX_VALUE;
    }

    /** Where a task ran: the executor, the GPU it computed on (null: none), and Spark's attempt number (0: the first). */
    record Where(String executor, Integer gpu, int taskAttempt) {}

    /**
     * Commits one checkpoint as write {@code writeId} (unique, sorting in commit order): results, then models, then done,
     * the file that names the write and makes it count.
     */
    void commit(long runId, String writeId, long modelId, ModelInfo m, List<String> definitions, List<ResultRow> rows, Where where,
                double fetchSeconds, double computeSeconds) throws IOException {
        String name = modelId + "-" + writeId;
        write("results", name, RESULTS, g -> {
            for (ResultRow r : rows) {
                Group x = g.newGroup();
                x.append("model_id", modelId);
                str(x, "analysis", r.analysis());
                str(x, "definition", r.definition());
                str(x, "variant", r.variant());
                if (r.seed() != null) x.append("seed", (long) r.seed());
                x.append("layer", r.layer());
                x.append("head", r.head());
                str(x, "tensor", r.tensor());
                str(x, "metric", r.metric());
                if (Double.isFinite(r.value())) x.append("value", r.value());
                str(x, "write_id", writeId);
                g.write(x);
            }
        });
        write("models", name, MODELS, g -> {
            Group x = g.newGroup();
            x.append("model_id", modelId);
            x.append("run_id", runId);
            str(x, "spec", m.spec());
            str(x, "revision", m.revision());
            str(x, "path", m.path());
            x.append("size_bytes", m.sizeBytes());
            str(x, "file_key", m.fileKey());
            str(x, "sha256", m.sha256());
            str(x, "label", m.label());
            if (m.step() != null) x.append("step", (long) m.step());
            str(x, "architecture", m.architecture());
            x.append("layers", m.layers());
            x.append("heads", m.heads());
            x.append("d_model", m.dModel());
            x.append("vocab", m.vocab());
            str(x, "dtypes", m.dtypes());
            x.append("computed", micros());
            str(x, "source", m.source());
            str(x, "commit_sha", m.commit());
            str(x, "content_id", m.contentId());
            str(x, "format", m.format());
            str(x, "family", m.family());
            // current and superseded_by stay empty: readers decide them (io.headscan.sweep.Supersession)
            where(x, where);
            x.append("fetch_seconds", fetchSeconds);
            x.append("compute_seconds", computeSeconds);
            str(x, "write_id", writeId);
            g.write(x);
        });
        write("done", name, DONE, g -> {
            for (String d : definitions) {
                Group x = g.newGroup();
                x.append("model_id", modelId);
                x.append("definition", d);
                str(x, "write_id", writeId);
                g.write(x);
            }
        });
    }

    private static void where(Group x, Where w) {
        str(x, "executor", w.executor());
        if (w.gpu() != null) x.append("gpu", w.gpu());
        x.append("task_attempt", w.taskAttempt());
    }

    /** Records a failed checkpoint; {@code where} is null when no task reported back (nothing is known of where it ran). */
    void error(long runId, String spec, String revision, String message, Where where) throws IOException {
        write("errors", runId + "-" + UUID.randomUUID(), ERRORS, g -> {
            Group x = g.newGroup();
            x.append("run_id", runId);
            str(x, "spec", spec);
            str(x, "revision", revision);
            str(x, "message", message);
            x.append("failed_at", micros());
            if (where != null) where(x, where);
            g.write(x);
        });
    }

    void run(long runId, String options, String version, String backend, String machine) throws IOException {
        write("runs", Long.toString(runId), RUNS, g -> {
            Group x = g.newGroup();
            x.append("run_id", runId);
            x.append("started", micros());
            str(x, "options", options);
            str(x, "version", version);
            str(x, "backend", backend);
            str(x, "machine", machine);
            g.write(x);
        });
    }

    /** What is committed: per content identity its done definitions, and its stored shape (layers, heads, d_model, vocab). */
    record Done(Map<String, Set<String>> definitions, Map<String, int[]> shapes) {}

    /** A models row's place in a dataset's write order (io.headscan.sweep.Supersession.BY_WRITE_ORDER). */
    record CommitOrder(String writeKey, long computed, long modelId) implements Comparable<CommitOrder> {
        @Override
        public int compareTo(CommitOrder o) {
            int c = writeKey.compareTo(o.writeKey);
            if (c == 0) c = Long.compare(computed, o.computed);
            return c != 0 ? c : Long.compare(modelId, o.modelId);
        }
    }

    /**
     * The largest run id the dataset holds (runs/RUN.parquet), or -1: a new run takes a larger one, so that its writes
     * sort after every earlier write whatever this machine's clock says.
     */
    long lastRunId() throws IOException {
        long last = -1;
        for (Path f : files("runs")) {
            String n = f.getName().substring(0, f.getName().length() - ".parquet".length());
            try {
                last = Math.max(last, Long.parseLong(n));
            } catch (NumberFormatException e) {
                // not a run's file: not ours to order
            }
        }
        return last;
    }

    /**
     * Reads what the dataset holds, on the driver, with the file system API and parquet's reader, as
     * io.headscan.sweep.ParquetDataset's views read it: per model id the write its newest done file names, and of those
     * the rows io.headscan.sweep.Supersession says are current.
     */
    Done read() throws IOException {
        Map<Long, String> writeOf = new HashMap<>();   // model id -> the write that counts ("" before write ids)
        Map<String, Set<String>> definitionsOf = new HashMap<>();   // model id + write -> definitions
        for (Path f : files("done")) {
            try (var r = reader(f)) {
                Group g;
                while ((g = r.read()) != null) {
                    long id = g.getLong("model_id", 0);
                    String write = string(g, "write_id");
                    writeOf.merge(id, write, (a, b) -> a.compareTo(b) >= 0 ? a : b);
                    definitionsOf.computeIfAbsent(id + "/" + write, k -> new HashSet<>()).add(g.getString("definition", 0));
                }
            }
        }
        record M(long id, String source, String content, String write, long computed, int[] shape) {}
        List<M> committed = new java.util.ArrayList<>();
        for (Path f : files("models")) {
            try (var r = reader(f)) {
                Group g;
                while ((g = r.read()) != null) {
                    long id = g.getLong("model_id", 0);
                    if (!string(g, "write_id").equals(writeOf.get(id))) continue;   // not the committed write of this model id
                    committed.add(new M(id, nullable(g, "source"), nullable(g, "content_id"), string(g, "write_id"), g.getLong("computed", 0),
                            new int[] {g.getInteger("layers", 0), g.getInteger("heads", 0), g.getInteger("d_model", 0), g.getInteger("vocab", 0)}));
                }
            }
        }
        Set<Long> current = io.headscan.sweep.Supersession.current(committed.stream()
                .map(m -> new io.headscan.sweep.Supersession.Stored<>(m.id(), m.source(), m.content(), new CommitOrder(m.write(), m.computed(), m.id()))).toList());
        Map<String, Set<String>> defs = new HashMap<>();
        Map<String, int[]> shapes = new HashMap<>();
        for (M m : committed) {
            if (!current.contains(m.id())) continue;   // superseded
            defs.computeIfAbsent(m.content(), k -> new HashSet<>()).addAll(definitionsOf.get(m.id() + "/" + writeOf.get(m.id())));
            shapes.put(m.content(), m.shape());
        }
        return new Done(defs, shapes);
    }

    private org.apache.parquet.hadoop.ParquetReader<Group> reader(Path f) throws IOException {
        return org.apache.parquet.hadoop.ParquetReader.builder(new org.apache.parquet.hadoop.example.GroupReadSupport(), f).withConf(conf).build();
    }

    /** A string field, "" when absent (a file from before that field, or a NULL). */
    private static String string(Group g, String field) {
        String v = nullable(g, field);
        return v == null ? "" : v;
    }

    /** A string field, null when absent (as SQL sees it). */
    private static String nullable(Group g, String field) {
        return g.getType().containsField(field) && g.getFieldRepetitionCount(field) > 0 ? g.getString(field, 0) : null;
    }

    private List<Path> files(String table) throws IOException {
        Path dir = new Path(root, table);
        if (!fs.exists(dir)) return List.of();
        List<Path> out = new java.util.ArrayList<>();
        for (var s : fs.listStatus(dir)) {
            String n = s.getPath().getName();
            if (s.isFile() && n.endsWith(".parquet") && !n.startsWith(".")) out.add(s.getPath());
        }
        return out;
    }

    private interface Rows {
        void fill(Sink g) throws IOException;
    }

    /** Appends groups to one file. */
    private record Sink(SimpleGroupFactory factory, ParquetWriter<Group> writer) {
        Group newGroup() {
            return factory.newGroup();
        }

        void write(Group g) throws IOException {
            writer.write(g);
        }
    }

    /**
     * Writes {@code table/name.parquet} under a temporary name beside it and renames it into place. Names are unique (a
     * write id, a run id): an existing file of that name is an error, never replaced.
     */
    private void write(String table, String name, MessageType schema, Rows rows) throws IOException {
        Path dir = new Path(root, table);
        fs.mkdirs(dir);
        Path tmp = new Path(dir, "." + name + ".parquet.tmp-" + UUID.randomUUID());   // not *.parquet: readers' globs skip it
        Path dst = new Path(dir, name + ".parquet");
        try (ParquetWriter<Group> w = ExampleParquetWriter.builder(outputFile(tmp)).withConf(conf).withType(schema)
                .withWriteMode(ParquetFileWriter.Mode.CREATE).withCompressionCodec(CompressionCodecName.SNAPPY).build()) {
            rows.fill(new Sink(new SimpleGroupFactory(schema), w));
        } catch (IOException | RuntimeException e) {
            fs.delete(tmp, false);
            throw e;
        }
        // a local file system's rename would replace dst: look first (names are unique, so this only guards a bug)
        if (fs.exists(dst) || !fs.rename(tmp, dst)) {
            fs.delete(tmp, false);
            throw new IOException("cannot rename " + tmp + " to " + dst + (fs.exists(dst) ? ": it exists, and a committed file is never replaced" : ""));
        }
        syncFolder(dir);
    }

    /**
     * On a local file system, the folder's entry for a renamed file reaches the disk too (fsync of the folder), so that
     * after a power cut a done file is never there without the files it names. Other file systems (HDFS, object stores)
     * make a rename durable themselves.
     */
    private void syncFolder(Path dir) throws IOException {
        if (!"file".equals(fs.getUri().getScheme())) return;
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(java.nio.file.Path.of(dir.toUri()), java.nio.file.StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    /** A new file through this dataset's own file system (so its settings, such as no .crc files, apply). */
    private org.apache.parquet.io.OutputFile outputFile(Path p) {
        return new org.apache.parquet.io.OutputFile() {
            @Override
            public org.apache.parquet.io.PositionOutputStream create(long blockSizeHint) throws IOException {
                org.apache.hadoop.fs.FSDataOutputStream out = fs.create(p, false);
                // on disk before it is renamed into place: a power cut must not leave a committed name on an empty file
                return new org.apache.parquet.io.PositionOutputStream() {
                    @Override
                    public long getPos() throws IOException {
                        return out.getPos();
                    }

                    @Override
                    public void write(int b) throws IOException {
                        out.write(b);
                    }

                    @Override
                    public void write(byte[] b, int off, int len) throws IOException {
                        out.write(b, off, len);
                    }

                    @Override
                    public void flush() throws IOException {
                        out.flush();
                    }

                    @Override
                    public void close() throws IOException {
                        try (out) {
                            out.hsync();
                        }
                    }
                };
            }

            @Override
            public org.apache.parquet.io.PositionOutputStream createOrOverwrite(long blockSizeHint) throws IOException {
                return create(blockSizeHint);   // temporary names are fresh: nothing to overwrite
            }

            @Override
            public boolean supportsBlockSize() {
                return false;
            }

            @Override
            public long defaultBlockSize() {
                return 0;
            }

            @Override
            public String getPath() {
                return p.toString();
            }
        };
    }

    private static void str(Group g, String field, String v) {
        if (v != null) g.append(field, v);
    }

    private static long micros() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000 + now.getNano() / 1000;
    }
}
