package io.headscan.sweep;

/**
 * One number of a sweep, in long form: which analysis and definition produced it, for which head (layer, head; -1 for
 * none) or tensor (null for none), which metric, and its value (NaN for a head reached by non-finite weights).
 */
public record ResultRow(String analysis, String definition, String variant, Long seed, int layer, int head, String tensor, String metric,
                        double value) implements java.io.Serializable {}
