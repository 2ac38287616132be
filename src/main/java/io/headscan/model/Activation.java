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
    RELU("relu"),
    /** x · sigmoid(x): {@code silu} (also {@code swish}), the gate of SwiGLU (Llama, Mistral, Qwen2, OLMo). */
    SILU("silu");

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
            case "silu", "swish" -> SILU;
            default -> null;
        };
    }

    /** f(x) in double (the host path and the references). */
    public double apply(double x) {
        return switch (this) {
            case GELU_TANH -> 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
            case GELU_ERF -> 0.5 * x * (1 + erf(x / Math.sqrt(2)));
            case RELU -> x > 0 ? x : 0;
            case SILU -> x / (1 + Math.exp(-x));
        };
    }

    /** Grid step of {@link #erf}'s table: erf and exp(−t²) are tabulated at t = k / 64 for t in [0, 6]. */
    private static final int STEPS_PER_UNIT = 64;
    private static final double[] ERF_AT, GAUSS_AT;

    static {
        int n = 6 * STEPS_PER_UNIT + 1;
        ERF_AT = new double[n];
        GAUSS_AT = new double[n];
        for (int k = 0; k < n; k++) {
            double t = (double) k / STEPS_PER_UNIT;
            ERF_AT[k] = erfSeries(t);
            GAUSS_AT[k] = Math.exp(-t * t);
        }
    }

    private static final double TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

    /**
     * erf in double, to about 1e-15 absolute: from the nearest tabulated point t (|h| = |a − t| ≤ 1/128),
     * erf(t + h) = erf(t) + 2/√π · e^(−t²) · Σ_{n=0..5} (−1)^n H_n(t) h^(n+1) / (n+1)!, the Taylor series of the integral
     * of e^(−s²) (its n-th derivative is (−1)^n H_n(s) e^(−s²), H_n the physicists' Hermite polynomials). The terms
     * left out are below 1e-16 on the grid. A few multiplications per call: the erf GELU runs over every MLP activation.
     */
    static double erf(double x) {
        if (Double.isNaN(x)) return x;
        double a = Math.abs(x);
        if (a >= 6) return x < 0 ? -1 : 1;   // 1 − erf(6) < 3e-17
        int k = (int) Math.round(a * STEPS_PER_UNIT);
        double t = (double) k / STEPS_PER_UNIT, h = a - t;
        // Hermite polynomials by their recurrence H_{n+1} = 2t·H_n − 2n·H_{n−1}
        double h0 = 1, h1 = 2 * t, h2 = 2 * t * h1 - 2 * h0, h3 = 2 * t * h2 - 4 * h1, h4 = 2 * t * h3 - 6 * h2, h5 = 2 * t * h4 - 8 * h3;
        double sum = h * (h0 - h * (h1 / 2 - h * (h2 / 6 - h * (h3 / 24 - h * (h4 / 120 - h * (h5 / 720))))));
        double r = ERF_AT[k] + TWO_OVER_SQRT_PI * GAUSS_AT[k] * sum;
        return x < 0 ? -r : r;
    }

    /**
     * erf in double to about 1e-15 relative, slowly (tens of terms): the Maclaurin series for |x| < 2.5, else the
     * continued fraction of erfc (both converge fast there). Builds {@link #erf}'s table and checks it.
     */
    static double erfSeries(double x) {
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
