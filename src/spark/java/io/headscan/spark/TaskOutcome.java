package io.headscan.spark;

import io.headscan.model.HeadId;
import io.headscan.sweep.ModelInfo;
import io.headscan.sweep.ResultRow;
import java.io.Serializable;
import java.util.List;

/**
 * What a task hands back to the driver: the checkpoint's description and rows (null {@code info} with a
 * {@code failure} message when it failed), the definitions computed (empty when all were done), where it ran (executor
 * id, host, the GPU it bound or tried to bind) and how long fetching and computing took.
 */
record TaskOutcome(ModelInfo info, List<String> definitions, List<ResultRow> rows, List<HeadId> top, boolean skipped, String failure,
                   String executor, String gpu, double fetchSeconds, double computeSeconds, long bytesFetched) implements Serializable {}
