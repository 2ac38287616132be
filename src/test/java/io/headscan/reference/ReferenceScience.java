package io.headscan.reference;

import io.headscan.model.Dims;
import io.headscan.model.Gpt2Layout;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;

/**
 * A plain double-precision implementation of docs/science.md §1–§3, written from the spec for tests
 * only: no BLAS, no tiling, no code shared with the fast path. Small models only (everything on the heap).
 */
public final class ReferenceScience {

    public enum Variant { HACKATHON, FULL, NOATTN }

    private final Model model;
    private final Dims dims;
    private final double[][] e;   // [V][d]
    private final double[][] u;   // [d][V]

    public ReferenceScience(Model model) {
        this.model = model;
        this.dims = model.dims();
        int v = dims.vocab(), d = dims.dModel();
        Matrix wte = raw(Gpt2Layout.WTE);
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

    /** A GPT-2 tensor as stored (its name without the file's prefix): read here, not through the model's views. */
    private Matrix raw(String name) {
        return model.matrix(model.prefix() + name);
    }

    /** Head h's Q (0), K (1) or V (2) columns of c_attn: [d, d_h]. */
    private Matrix head(HeadId h, int third) {
        int d = dims.dModel(), dh = dims.dHead();
        return raw(Gpt2Layout.cAttnWeight(h.layer())).block(0, third * d + h.head() * dh, d, dh);
    }

    public double[] vec(String name) {
        float[] f = model.vector(model.prefix() + name);
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
            double[] vOut = times(x, raw(Gpt2Layout.cAttnWeight(0)).block(0, 2 * d, d, d));      // all heads' V: [d]
            double[] a = cd(times(vOut, raw(Gpt2Layout.attnProjWeight(0))));                    // @ Wo_0 (all heads summed)
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
        double[] h = times(y, raw(Gpt2Layout.fcWeight(0)));
        double[] bfc = vec(Gpt2Layout.fcBias(0));
        for (int k = 0; k < h.length; k++) h[k] = geluNew(h[k] + bfc[k]);
        double[] out = times(h, raw(Gpt2Layout.mlpProjWeight(0)));
        double[] bpr = vec(Gpt2Layout.mlpProjBias(0));
        for (int i = 0; i < d; i++) out[i] += bpr[i];
        return cd(out);
    }

    /** §3: S[t, s] for one head, over the given query and key tokens. */
    public double[][] scores(HeadId h, int[] queries, int[] keys, Variant variant) {
        int d = dims.dModel();
        double[] g1 = vec(Gpt2Layout.ln1Weight(h.layer()));
        Matrix wq = head(h, 0), wk = head(h, 1);
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

    /** §4/§5 rank summary, numpy median. */
    public record Ranks(double frac0, double fracLt10, double median, double mean) {
        public static Ranks of(int[] r) {
            int[] s = r.clone();
            java.util.Arrays.sort(s);
            int n = s.length;
            double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + (double) s[n / 2]) / 2;
            double z = 0, lt = 0, sum = 0;
            for (int x : r) {
                if (x == 0) z++;
                if (x < 10) lt++;
                sum += x;
            }
            return new Ranks(z / n, lt / n, median, sum / n);
        }
    }

    /** §4: mean_diag_prob and ranks of the diagonal among all V keys, from the full V×V matrix. */
    public double[] fullVocab(HeadId h, Variant variant, int[][] ranksOut) {
        int v = dims.vocab();
        int[] all = java.util.stream.IntStream.range(0, v).toArray();
        double[][] s = scores(h, all, all, variant);
        double sum = 0;
        int[] ranks = new int[v];
        for (int t = 0; t < v; t++) {
            double max = Double.NEGATIVE_INFINITY;
            for (double x : s[t]) max = Math.max(max, x);
            double z = 0;
            for (double x : s[t]) z += Math.exp(x - max);
            sum += Math.exp(s[t][t] - max) / z;
            for (int j = 0; j < v; j++) if (s[t][j] > s[t][t]) ranks[t]++;
        }
        ranksOut[0] = ranks;
        return new double[] {sum / v};
    }

    /** o_s = ((W_EE[s] * g1) @ Wv) @ Wo, for one source token. */
    public double[] ovOut(HeadId h, int s, Variant variant) {
        int d = dims.dModel();
        double[] g1 = vec(Gpt2Layout.ln1Weight(h.layer()));
        double[] w = wee(s, variant);
        for (int i = 0; i < d; i++) w[i] *= g1[i];
        return times(times(w, head(h, 2)), raw(Gpt2Layout.attnProjWeight(h.layer())).rows(h.head() * dims.dHead(), dims.dHead()));
    }

    /** §5: logits M[s, j] = o_s · U[:, j] for all j. */
    public double[] ovLogits(HeadId h, int s, Variant variant) {
        double[] o = ovOut(h, s, variant);
        double[] m = new double[dims.vocab()];
        for (int j = 0; j < m.length; j++) {
            double dot = 0;
            for (int i = 0; i < o.length; i++) dot += o[i] * u[i][j];
            m[j] = dot;
        }
        return m;
    }

    /** §5: negative (index 0) and positive (index 1) rank arrays over all source tokens. */
    public int[][] ovRanks(HeadId h, Variant variant) {
        int v = dims.vocab();
        int[] neg = new int[v], pos = new int[v];
        for (int s = 0; s < v; s++) {
            double[] m = ovLogits(h, s, variant);
            for (int j = 0; j < v; j++) {
                if (m[j] < m[s]) neg[s]++;
                if (m[j] > m[s]) pos[s]++;
            }
        }
        return new int[][] {neg, pos};
    }

    /** §5 IOI copy scores: fraction of names whose token is in the top 5 of lnpre(±o_s) @ U + b_U (W_EE noattn). */
    public double[] copyScores(HeadId h, int[] names) {
        int v = dims.vocab(), d = dims.dModel();
        double[] bf = vec(Gpt2Layout.LNF_BIAS);
        double[] bu = new double[v];
        double mean = 0;
        for (int t = 0; t < v; t++) {
            for (int i = 0; i < d; i++) bu[t] += e[t][i] * bf[i];
            mean += bu[t];
        }
        mean /= v;
        for (int t = 0; t < v; t++) bu[t] -= mean;
        double[] out = new double[2];
        for (int sign = 0; sign < 2; sign++) {
            int hits = 0;
            for (int name : names) {
                double[] o = ovOut(h, name, Variant.NOATTN);
                if (sign == 1) for (int i = 0; i < d; i++) o[i] = -o[i];
                double[] x = lnpre(o);
                double[] logits = new double[v];
                for (int j = 0; j < v; j++) {
                    double dot = bu[j];
                    for (int i = 0; i < d; i++) dot += x[i] * u[i][j];
                    logits[j] = dot;
                }
                int above = 0;
                for (int j = 0; j < v; j++) if (logits[j] > logits[name]) above++;
                if (above < 5) hits++;
            }
            out[sign] = (double) hits / names.length;
        }
        return out;
    }
}
