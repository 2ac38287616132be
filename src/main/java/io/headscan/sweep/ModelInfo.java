package io.headscan.sweep;

/**
 * What a sweep records of a checkpoint: what was named and where it is, its identity, its shape and dtypes, and its
 * label in a series. The identity is {@code source}, the canonical place ({@code file:} and the real path of the
 * weights, or {@code hf:} and the canonical repository with the commit it resolved to), and {@code contentId}, what
 * the bytes are ({@code sha256:} where known without reading the file, else a fingerprint of the files' size,
 * modification time, inode and sampled bytes; {@code config.json} included; for a Hub commit the commit itself).
 * {@code fileKey} (size and modification time) and {@code sha256} are kept for reading. {@code family} is the config's
 * {@code model_type} (gpt2, gpt_neox, ...).
 */
public record ModelInfo(String spec, String revision, String path, long sizeBytes, String fileKey, String sha256, String label, Long step,
                        String architecture, int layers, int heads, int dModel, int vocab, String dtypes, String source, String commit,
                        String contentId, String format, String family) implements java.io.Serializable {}
