/**
 * The science: every quantity headscan reports, exactly as pinned in {@code docs/science.md}
 * (the spec's section numbers are cited on each class). One source of truth per definition:
 * the TL-processed unembedding U (§1), the effective embedding W_EE and its variants (§2),
 * the Prediction-Attention score (§3), full-vocabulary QK statistics (§4) and OV statistics (§5).
 */
package io.headscan.circuits;
