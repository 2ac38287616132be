package io.headscan.sweep;

import java.util.List;

/**
 * Where a sweep's rows go. A checkpoint's rows (of every definition it still lacks) arrive in one {@link #write} call, which a sink
 * stores atomically (all or nothing, also when the call ends in an Error), so an interrupted sweep leaves only whole
 * checkpoints.
 */
@SuppressWarnings("try")   // close() may throw what a sink's store throws
public interface ResultSink extends AutoCloseable {

    /** Records the run (options, version, backend, machine) before the first checkpoint. */
    void begin(String options, String version, String backend, String machine) throws Exception;

    /** Whether this checkpoint's content (under any name) is already done for this definition, with current rows. */
    boolean isDone(ModelInfo model, String definition) throws Exception;

    /**
     * The layers and heads stored for a checkpoint identity whose rows are current, if any: enough to list a sweep's
     * definitions for it before its files are fetched (a pinned Hub revision done earlier is skipped without a download).
     */
    default java.util.Optional<int[]> storedShape(String source, String contentId) throws Exception {
        return java.util.Optional.empty();
    }

    /**
     * Stores a checkpoint's rows for the given definitions, atomically; rows of the same source with other content
     * stop being current in the same transaction (they stay as history). A call that does not return normally, whatever
     * it throws (an Error too), stores none of them, so a sweep can record the checkpoint as failed and go on.
     */
    void write(ModelInfo model, List<String> definitions, List<ResultRow> rows) throws Exception;

    /** Records that a checkpoint failed, with its one-line message. */
    void error(String spec, String revision, String message) throws Exception;

    @Override
    void close() throws Exception;
}
