package io.headscan.model;

import java.util.Locale;

/**
 * The MLP non-linearities of the families headscan reads, by the names their configs use (transformers' ACT2FN).
 * A name not listed is refused by name: a different function changes every W_EE row.
 */
public enum Activation {
    /** 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))): GPT-2's {@code gelu_new}, also {@code gelu_pytorch_tanh}, {@code gelu_fast}. */
    GELU_TANH("gelu_new"),
    /** 0.5·x·(1 + erf(x / sqrt 2)): the exact GELU, {@code gelu} (GPT-NeoX). */
    GELU_ERF("gelu"),
    /** max(x, 0): OPT. */
    RELU("relu");

    private final String configName;

    Activation(String configName) {
        this.configName = configName;
    }

    /** The name a config uses for it (the first of its aliases). */
    public String configName() {
        return configName;
    }

    /** The activation a config names, or null when headscan does not compute it. */
    public static Activation byConfigName(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast" -> GELU_TANH;
            case "gelu" -> GELU_ERF;
            case "relu" -> RELU;
            default -> null;
        };
    }

    /** f(x) in double (the host path and the references). */
    public double apply(double x) {
        return switch (this) {
            case GELU_TANH -> 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
            case GELU_ERF -> 0.5 * x * (1 + erf(x / Math.sqrt(2)));
            case RELU -> x > 0 ? x : 0;
        };
    }

    /**
     * erf in double to about 1e-15 relative: the Maclaurin series for |x| < 2.5, else the continued fraction of erfc
     * (both converge fast there). Java has no erf.
     */
    static double erf(double x) {
        if (Double.isNaN(x)) return x;
        double a = Math.abs(x);
        double r;
        if (a < 2.5) {
            // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
            double term = a, sum = a, x2 = a * a;
            for (int n = 1; n < 100; n++) {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else if (a > 6) {
            r = 1;
        } else {
            // erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + ...))))), evaluated bottom-up
            double f = a;
            for (int k = 60; k >= 1; k--) f = a + (k / 2.0) / f;
            r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
        }
        return x < 0 ? -r : r;
    }
}
