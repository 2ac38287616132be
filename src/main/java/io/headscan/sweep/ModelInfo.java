package io.headscan.sweep;

/**
 * What a sweep records of a checkpoint: where it is, its identity (size and modification time as {@code fileKey}, the
 * SHA-256 where known without reading the file), its shape and dtypes, and its label in a series.
 */
public record ModelInfo(String spec, String revision, String path, long sizeBytes, String fileKey, String sha256, String label, Long step,
                        String architecture, int layers, int heads, int dModel, int vocab, String dtypes) {}
