package io.headscan.spark;

import io.headscan.sweep.Analyses;
import io.headscan.sweep.Checkpoint;
import java.io.Serializable;
import java.util.Map;
import java.util.Set;

/**
 * One task: a checkpoint and what to compute of it, the backend to use, and what the dataset already holds (content
 * identity to its done definitions, and the stored shape per content) so that the executor skips what is done.
 */
record TaskInput(Checkpoint checkpoint, Analyses analyses, String backend, boolean tf32, boolean keepDownloads,
                 Map<String, Set<String>> done, Map<String, int[]> shapes) implements Serializable {}
