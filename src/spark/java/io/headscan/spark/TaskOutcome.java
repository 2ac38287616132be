package io.headscan.spark;

import io.headscan.model.HeadId;
import io.headscan.sweep.ModelInfo;
import io.headscan.sweep.ResultRow;
import java.io.Serializable;
import java.util.List;

/**
 * What a task hands back to the driver: the checkpoint's description and rows (null {@code info} with a
 * {@code failure} message when the checkpoint failed: a bad file, a refused config), the definitions computed (empty
 * when all were done), where it ran (executor id and host; the CUDA device of the backend it computed with, as that
 * backend reports it, or null; Spark's attempt number, 0 for the first) and how long fetching and computing took. A
 * failure of the task itself is not an outcome but a {@link TaskFailure}, thrown.
 */
record TaskOutcome(ModelInfo info, List<String> definitions, List<ResultRow> rows, List<HeadId> top, boolean skipped, String failure,
                   String executor, Integer gpu, int taskAttempt, double fetchSeconds, double computeSeconds, long bytesFetched)
        implements Serializable {

    Dataset.Where where() {
        return new Dataset.Where(executor, gpu, taskAttempt);
    }
}
