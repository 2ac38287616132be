package io.headscan.reference;

import io.headscan.model.Gpt2Dims;
import io.headscan.model.Gpt2Layout;
import io.headscan.model.Gpt2Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;

/**
 * A plain double-precision implementation of science-spec.md §1–§3, written from the spec for tests
 * only: no BLAS, no tiling, no code shared with the fast path. Small models only (everything on the heap).
 */
public final class ReferenceScience {

    public enum Variant { HACKATHON, FULL, NOATTN }

    private final Gpt2Model model;
    private final Gpt2Dims dims;
    private final double[][] e;   // [V][d]
    private final double[][] u;   // [d][V]

    public ReferenceScience(Gpt2Model model) {
        this.model = model;
        this.dims = model.dims();
        int v = dims.vocab(), d = dims.dModel();
        Matrix wte = model.wte();
        e = new double[v][d];
        for (int t = 0; t < v; t++) for (int i = 0; i < d; i++) e[t][i] = wte.get(t, i);
        double[] gf = vec(Gpt2Layout.LNF_WEIGHT);
        // §1: U = gf[:, None] * E.T, centred over d per column, then over V per row
        u = new double[d][v];
        for (int t = 0; t < v; t++) {
            double m = 0;
            for (int i = 0; i < d; i++) m += gf[i] * e[t][i];
            m /= d;
            for (int i = 0; i < d; i++) u[i][t] = gf[i] * e[t][i] - m;
        }
        for (int i = 0; i < d; i++) {
            double m = 0;
            for (int t = 0; t < v; t++) m += u[i][t];
            m /= v;
            for (int t = 0; t < v; t++) u[i][t] -= m;
        }
    }

    public double[] vec(String name) {
        float[] f = model.vector(name);
        double[] out = new double[f.length];
        for (int i = 0; i < f.length; i++) out[i] = f[i];
        return out;
    }

    public double u(int i, int t) {
        return u[i][t];
    }

    public static double[] cd(double[] x) {
        double m = 0;
        for (double a : x) m += a;
        m /= x.length;
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] - m;
        return out;
    }

    public static double[] lnpre(double[] x) {
        double[] c = cd(x);
        double ss = 0;
        for (double a : c) ss += a * a;
        double s = Math.sqrt(ss / c.length + 1e-5);
        for (int i = 0; i < c.length; i++) c[i] /= s;
        return c;
    }

    public static double geluNew(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    /** x[d] @ M[rows=d, cols] for a matrix view. */
    static double[] times(double[] x, Matrix m) {
        double[] out = new double[m.cols()];
        for (int i = 0; i < m.rows(); i++) {
            if (x[i] == 0) continue;
            for (int j = 0; j < m.cols(); j++) out[j] += x[i] * m.get(i, j);
        }
        return out;
    }

    /** §2: the effective embedding of token t. */
    public double[] wee(int t, Variant variant) {
        int d = dims.dModel();
        double[] ce = cd(e[t]);
        double[] r;
        if (variant == Variant.NOATTN) {
            r = ce;
        } else {
            double[] x = lnpre(e[t]);
            double[] g1 = vec(Gpt2Layout.ln1Weight(0));
            for (int i = 0; i < d; i++) x[i] *= g1[i];
            double[] vOut = times(x, model.qkvThird(0, 2));      // all heads' V: [d]
            double[] a = cd(times(vOut, model.attnProj(0)));     // @ Wo_0 (all heads summed)
            r = new double[d];
            for (int i = 0; i < d; i++) r[i] = ce[i] + a[i];
        }
        double[] mlp = mlp0(r);
        if (variant == Variant.HACKATHON) return mlp;
        double[] out = new double[d];
        for (int i = 0; i < d; i++) out[i] = r[i] + mlp[i];
        return out;
    }

    private double[] mlp0(double[] r) {
        int d = dims.dModel();
        double[] y = lnpre(r);
        double[] g2 = vec(Gpt2Layout.ln2Weight(0)), b2 = vec(Gpt2Layout.ln2Bias(0));
        for (int i = 0; i < d; i++) y[i] = y[i] * g2[i] + b2[i];
        double[] h = times(y, model.matrix(Gpt2Layout.fcWeight(0)));
        double[] bfc = vec(Gpt2Layout.fcBias(0));
        for (int k = 0; k < h.length; k++) h[k] = geluNew(h[k] + bfc[k]);
        double[] out = times(h, model.matrix(Gpt2Layout.mlpProjWeight(0)));
        double[] bpr = vec(Gpt2Layout.mlpProjBias(0));
        for (int i = 0; i < d; i++) out[i] += bpr[i];
        return cd(out);
    }

    /** §3: S[t, s] for one head, over the given query and key tokens. */
    public double[][] scores(HeadId h, int[] queries, int[] keys, Variant variant) {
        int d = dims.dModel();
        double[] g1 = vec(Gpt2Layout.ln1Weight(h.layer()));
        Matrix wq = model.wq(h), wk = model.wk(h);
        double[][] q = new double[queries.length][];
        for (int a = 0; a < queries.length; a++) {
            double[] x = new double[d];
            for (int i = 0; i < d; i++) x[i] = u[i][queries[a]] * g1[i];
            q[a] = times(x, wq);
        }
        double[][] k = new double[keys.length][];
        for (int b = 0; b < keys.length; b++) {
            double[] w = wee(keys[b], variant);
            for (int i = 0; i < d; i++) w[i] *= g1[i];
            k[b] = times(w, wk);
        }
        double scale = 1 / Math.sqrt(dims.dHead());
        double[][] s = new double[queries.length][keys.length];
        for (int a = 0; a < queries.length; a++) {
            for (int b = 0; b < keys.length; b++) {
                double dot = 0;
                for (int j = 0; j < q[a].length; j++) dot += q[a][j] * k[b][j];
                s[a][b] = dot * scale;
            }
        }
        return s;
    }

    /** §3: mean over t in the bag of softmax_s(S[t, s])[t]. */
    public double bagScore(HeadId h, int[] bag, Variant variant) {
        double[][] s = scores(h, bag, bag, variant);
        double total = 0;
        for (int a = 0; a < bag.length; a++) {
            double max = Double.NEGATIVE_INFINITY;
            for (double x : s[a]) max = Math.max(max, x);
            double z = 0;
            for (double x : s[a]) z += Math.exp(x - max);
            total += Math.exp(s[a][a] - max) / z;
        }
        return total / bag.length;
    }
}
