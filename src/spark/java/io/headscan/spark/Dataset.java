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
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Types;

/**
 * A distributed sweep's results (io.headscan.sweep.ParquetDataset describes the layout; docs/spark.md): the driver writes
 * each checkpoint's rows as Parquet files through Hadoop's file system API, so {@code --out} may be a local folder, NFS,
 * {@code hdfs://} or {@code s3a://}. A checkpoint is committed by three files, each written under a temporary name and
 * renamed into place: its results, its models row, then its done rows, which make it count. Names are the checkpoint's
 * model id, a hash of its identity and definitions: a task that ran twice (a retry, a lost executor, a rerun after the
 * driver died) writes the same names, never a second copy.
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
            .optional(PrimitiveTypeName.BOOLEAN).named("current")
            .optional(PrimitiveTypeName.INT64).named("superseded_by")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("executor")
            .optional(PrimitiveTypeName.DOUBLE).named("fetch_seconds")
            .optional(PrimitiveTypeName.DOUBLE).named("compute_seconds")
            .named("models");

    static final MessageType DONE = Types.buildMessage()
            .optional(PrimitiveTypeName.INT64).named("model_id")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("definition")
            .named("done");

    static final MessageType ERRORS = Types.buildMessage()
            .optional(PrimitiveTypeName.INT64).named("run_id")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("spec")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("revision")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("message")
            .optional(PrimitiveTypeName.INT64).as(MICROS).named("failed_at")
            .optional(PrimitiveTypeName.BINARY).as(STRING).named("executor")
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

    /** Commits one checkpoint: results, then models, then done (the file that makes it count). */
    void commit(long runId, long modelId, ModelInfo m, List<String> definitions, List<ResultRow> rows, String executor,
                double fetchSeconds, double computeSeconds) throws IOException {
        write("results", Long.toString(modelId), RESULTS, g -> {
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
                g.write(x);
            }
        });
        write("models", Long.toString(modelId), MODELS, g -> {
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
            x.append("current", true);
            str(x, "executor", executor);
            x.append("fetch_seconds", fetchSeconds);
            x.append("compute_seconds", computeSeconds);
            g.write(x);
        });
        write("done", Long.toString(modelId), DONE, g -> {
            for (String d : definitions) {
                Group x = g.newGroup();
                x.append("model_id", modelId);
                x.append("definition", d);
                g.write(x);
            }
        });
    }

    void error(long runId, String spec, String revision, String message, String executor) throws IOException {
        write("errors", runId + "-" + UUID.randomUUID(), ERRORS, g -> {
            Group x = g.newGroup();
            x.append("run_id", runId);
            str(x, "spec", spec);
            str(x, "revision", revision);
            str(x, "message", message);
            x.append("failed_at", micros());
            str(x, "executor", executor);
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

    /**
     * Reads what the dataset holds (committed checkpoints only; of one source, its newest content), with the file
     * system API and parquet's reader, on the driver.
     */
    Done read() throws IOException {
        Map<Long, Set<String>> byModel = new HashMap<>();
        for (Path f : files("done")) {
            try (var r = org.apache.parquet.hadoop.ParquetReader.builder(new org.apache.parquet.hadoop.example.GroupReadSupport(), f).withConf(conf).build()) {
                Group g;
                while ((g = r.read()) != null) byModel.computeIfAbsent(g.getLong("model_id", 0), k -> new HashSet<>()).add(g.getString("definition", 0));
            }
        }
        record M(String source, String content, long computed, int[] shape) {}
        Map<Long, M> models = new HashMap<>();
        for (Path f : files("models")) {
            try (var r = org.apache.parquet.hadoop.ParquetReader.builder(new org.apache.parquet.hadoop.example.GroupReadSupport(), f).withConf(conf).build()) {
                Group g;
                while ((g = r.read()) != null) {
                    long id = g.getLong("model_id", 0);
                    if (!byModel.containsKey(id)) continue;   // not committed
                    models.put(id, new M(g.getString("source", 0), g.getString("content_id", 0), g.getLong("computed", 0),
                            new int[] {g.getInteger("layers", 0), g.getInteger("heads", 0), g.getInteger("d_model", 0), g.getInteger("vocab", 0)}));
                }
            }
        }
        Map<String, M> newest = new HashMap<>();
        for (M m : models.values()) newest.merge(m.source(), m, (a, b) -> a.computed() >= b.computed() ? a : b);
        Map<String, Set<String>> defs = new HashMap<>();
        Map<String, int[]> shapes = new HashMap<>();
        for (var e : models.entrySet()) {
            M m = e.getValue();
            if (!newest.get(m.source()).content().equals(m.content())) continue;   // superseded
            defs.computeIfAbsent(m.content(), k -> new HashSet<>()).addAll(byModel.get(e.getKey()));
            shapes.put(m.content(), m.shape());
        }
        return new Done(defs, shapes);
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

    /** Writes {@code table/name.parquet} under a temporary name beside it and renames it into place. */
    private void write(String table, String name, MessageType schema, Rows rows) throws IOException {
        Path dir = new Path(root, table);
        fs.mkdirs(dir);
        Path tmp = new Path(dir, "." + name + ".parquet.tmp-" + UUID.randomUUID());   // not *.parquet: readers' globs skip it
        Path dst = new Path(dir, name + ".parquet");
        try (ParquetWriter<Group> w = ExampleParquetWriter.builder(HadoopOutputFile.fromPath(tmp, conf)).withConf(conf).withType(schema)
                .withWriteMode(ParquetFileWriter.Mode.OVERWRITE).withCompressionCodec(CompressionCodecName.SNAPPY).build()) {
            rows.fill(new Sink(new SimpleGroupFactory(schema), w));
        } catch (IOException | RuntimeException e) {
            fs.delete(tmp, false);
            throw e;
        }
        fs.delete(new Path(dir, "." + tmp.getName() + ".crc"), false);
        if (fs.exists(dst)) fs.delete(dst, false);   // the same computation again (a retry): same name, same content
        if (!fs.rename(tmp, dst)) throw new IOException("cannot rename " + tmp + " to " + dst);
        fs.delete(new Path(dir, "." + dst.getName() + ".crc"), false);
    }

    private static void str(Group g, String field, String v) {
        if (v != null) g.append(field, v);
    }

    private static long micros() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000 + now.getNano() / 1000;
    }
}
