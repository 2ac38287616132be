package io.headscan.synth;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.format.DType;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.PyTorchZipWriter;
import io.headscan.format.SafetensorsWriter;
import io.headscan.format.TensorInfo;
import io.headscan.model.Activation;
import io.headscan.model.Dims;
import io.headscan.model.Gpt2Layout;
import io.headscan.model.HeadId;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;

/**
 * Writes synthetic checkpoints in the exact Hugging Face GPT-2 layout (all tensors, mask buffers
 * included, plus config.json), deterministic per seed, with weight scales of the order of real GPT-2's.
 *
 * <p>Every row of every tensor has its own random stream (seeded from the run seed, the tensor name
 * and the row), so the output does not depend on the thread count and any row can be regenerated alone.
 *
 * <p><b>Planted heads.</b> Real GPT-2's MLP0 acts as an extended embedding; here layer 0 is built so that
 * the effective embedding W_EE (docs/science.md §2) is close to a positive-definite linear map of the token
 * embedding: layer-0 O = c·Vᵀ and MLP0 runs in gelu's near-linear range with its output projection
 * c·W_fcᵀ. A planted head l.h then gets W_Q = W_K = diag(1/g1)·R·α for a random R [d, d_h], so that the
 * bilinear score (R^T U_t)·(R^T W_EE_s) peaks at s = t: the head attends to the token being predicted,
 * which is what the Prediction-Attention score (§3) measures. α is calibrated on sample tokens so that
 * the diagonal score averages {@link #PLANT_DIAGONAL_LOGIT}. Its OV circuit is W_V = diag(1/g1)·R,
 * W_O = -Rᵀ: negative copying (§5), like the Negative Name Mover heads 10.7 and 11.10.
 *
 * <p>{@link SyntheticFamily} writes the same model in other families' layouts, with α calibrated for what each
 * computes differently ({@link Calibration}).
 */
public final class SyntheticGpt2 {

    /** Mean of S[t, t] (1/sqrt(d_h) included) that planted heads are calibrated to. */
    public static final double PLANT_DIAGONAL_LOGIT = 16.0;

    static final double WTE_STD = 0.12;
    static final double WPE_STD = 0.01;
    static final double LN_WEIGHT_STD = 0.05;
    static final double BIAS_STD = 0.02;
    static final double ATTN_STD = 0.12;
    static final double PROJ_STD = 0.08;
    static final double MLP_STD = 0.10;
    /** Layer-0 MLP pre-activation offset: keeps gelu_new in its near-linear range. */
    static final double MLP0_BIAS = 4.0;
    static final int CALIBRATION_TOKENS = 64;

    private final Dims dims;
    private final long seed;
    private final List<HeadId> planted;
    private final Map<String, float[][]> cache = new HashMap<>();
    private DType dtype = DType.F32;
    private Calibration calibration = Calibration.GPT2;
    private boolean maskBuffers = true;

    /**
     * Stores the weights as F16 or BF16 (each F32 value rounded to nearest, ties to even), as fine-tuned checkpoints
     * often are; the same seed gives the same F32 values before rounding. The 4-D mask buffers stay F32.
     */
    private boolean pytorch;

    /** Writes {@code pytorch_model.bin} (a PyTorch ZIP checkpoint, as {@code GPT2LMHeadModel.state_dict()} saves) instead of model.safetensors. */
    public SyntheticGpt2 asPyTorch(boolean on) {
        this.pytorch = on;
        return this;
    }

    public SyntheticGpt2 storedAs(DType dtype) {
        this.dtype = checkStored(dtype);
        return this;
    }

    /** The storage types synth writes: F32, F16 or BF16. */
    static DType checkStored(DType dtype) {
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) throw new IllegalArgumentException("synth writes F32, F16 or BF16, not " + dtype);
        return dtype;
    }

    public SyntheticGpt2(Dims dims, long seed, List<HeadId> plant) {
        this.dims = dims;
        this.seed = seed;
        TreeSet<HeadId> set = new TreeSet<>();
        for (HeadId h : plant) set.add(h.checkIn(dims));
        this.planted = List.copyOf(set);
    }

    public List<HeadId> planted() {
        return planted;
    }

    public DType dtype() {
        return dtype;
    }

    public Dims dims() {
        return dims;
    }

    public long seed() {
        return seed;
    }

    /**
     * How another family's model computes what the planted heads are calibrated on (docs/science.md §9), so that the
     * same weights re-laid out in that family's layout ({@link SyntheticFamily}) keep {@link #PLANT_DIAGONAL_LOGIT}.
     *
     * @param parallel   the MLP reads the block's input, not input + attention (GPT-NeoX, GPT-J): W_EE ignores layer-0 attention
     * @param sharedNorm the block's one norm (ln_1) also feeds the MLP (GPT-J: there is no ln_2)
     * @param activation the MLP's non-linearity
     * @param queryScale a factor on the planted W_Q only: the family's attention scale divided by 1/sqrt(d_head)
     *                   undone (GPT-Neo, which has no scaling: 1/sqrt(d_head))
     */
    record Calibration(boolean parallel, boolean sharedNorm, Activation activation, double queryScale) {
        static final Calibration GPT2 = new Calibration(false, false, Activation.GELU_TANH, 1.0);

        double act(double x) {
            return activation == Activation.GELU_TANH ? geluNew(x) : activation.apply(x);
        }
    }

    /** Calibrates planted heads for another family's computation (package-private: {@link SyntheticFamily}). */
    SyntheticGpt2 calibratedFor(Calibration c) {
        this.calibration = c;
        return this;
    }

    /** Leaves the 4-D mask buffers out (a staging file for another family's layout, which has none). */
    SyntheticGpt2 withoutMaskBuffers() {
        this.maskBuffers = false;
        return this;
    }

    /** The tokens whose mean diagonal logit the planted heads are calibrated to (tests check it). */
    int[] calibrationTokens() {
        int n = Math.min(CALIBRATION_TOKENS, dims.vocab());
        SplittableRandom pick = new SplittableRandom(mix(seed, 77, 0));
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = pick.nextInt(dims.vocab());
        return out;
    }

    /** What {@link #write} produced. */
    public record Result(Path weights, Path config, long bytes, int tensors, long parameters) {}

    /** Writes {@code dir/model.safetensors} (or {@code pytorch_model.bin}) and {@code dir/config.json} atomically. */
    public Result write(Path dir, int threads) throws IOException {
        Files.createDirectories(dir);
        SafetensorsWriter w = tensors(threads);
        int count = Gpt2Layout.entries(dims).size();
        Path weights = dir.resolve(pytorch ? "pytorch_model.bin" : "model.safetensors");
        Path config = dir.resolve("config.json");
        writeConfig(config);   // first: the weights, written last, complete the folder (an interrupt never leaves weights without it)
        if (!pytorch) {
            w.write(weights);
            return new Result(weights, config, Files.size(weights), count, dims.parameterCount());
        }
        // the same bytes, saved as GPT2LMHeadModel.state_dict() is: transformer. names, lm_head.weight tied to wte
        Path staged = io.headscan.AtomicFiles.tempBeside(dir.resolve("model.safetensors"));
        try {
            w.write(staged);
            try (SafetensorsFile f = SafetensorsFile.open(staged)) {
                PyTorchZipWriter pw = new PyTorchZipWriter().folder("pytorch_model");
                for (TensorInfo t : f.tensors()) pw.add("transformer." + t.name(), t.dtype(), t.shape(), f.segment(t));
                pw.tie("lm_head.weight", "transformer." + Gpt2Layout.WTE);
                pw.write(weights);
            }
        } finally {
            io.headscan.AtomicFiles.discard(staged);
        }
        return new Result(weights, config, Files.size(weights), count + 1, dims.parameterCount());
    }

    /**
     * Writes only the GPT-2-layout safetensors file (names without prefix), to {@code file}: the staging step of
     * {@link SyntheticFamily}.
     */
    void writeSafetensors(Path file, int threads) throws IOException {
        tensors(threads).write(file);
    }

    /** Every tensor of the layout, each produced row by row when the writer fills it. */
    private SafetensorsWriter tensors(int threads) {
        SafetensorsWriter w = new SafetensorsWriter().parallelism(threads);
        w.metadata("format", "pt");
        w.metadata("headscan.synth.seed", Long.toString(seed));
        w.metadata("headscan.synth.plant", String.join(",", planted.stream().map(HeadId::toString).toList()));
        PlantedWeights plants = planted.isEmpty() ? null : new PlantedWeights();
        for (Gpt2Layout.Entry e : Gpt2Layout.entries(dims)) {
            if (e.maskBuffer() && !maskBuffers) continue;
            long[] shape = e.shape();
            int rows = shape.length == 4 ? (int) (shape[2]) : shape.length == 2 ? (int) shape[0] : 1;
            int cols = (int) shape[shape.length - 1];
            DType t = shape.length == 4 ? DType.F32 : dtype;
            w.add(e.name(), t, shape, seg -> fillRows(seg, rows, cols, t, r -> row(e.name(), r, plants)));
        }
        return w;
    }

    interface RowSource {
        float[] row(int r);
    }

    static void fillRows(MemorySegment seg, int rows, int cols, DType t, RowSource src) {
        java.util.stream.IntStream.range(0, rows).parallel().forEach(r -> {
            float[] v = src.row(r);
            if (t == DType.F32) {
                MemorySegment.copy(v, 0, seg, SafetensorsFile.F32_LE, (long) r * cols * Float.BYTES, cols);
                return;
            }
            for (int j = 0; j < cols; j++) {
                short bits = t == DType.F16 ? Float.floatToFloat16(v[j]) : toBfloat16(v[j]);
                seg.setAtIndex(SafetensorsFile.I16_LE, (long) r * cols + j, bits);
            }
        });
    }

    /** The BF16 nearest to x (ties to even): the upper half of its F32 bits, rounded. */
    static short toBfloat16(float x) {
        int bits = Float.floatToRawIntBits(x);
        if (Float.isNaN(x)) return (short) ((bits >>> 16) | 0x40);
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** Row r of a tensor, with planted heads applied. */
    float[] row(String name, int r, PlantedWeights plants) {
        float[] v = baseRow(name, r);
        if (plants != null) plants.apply(name, r, v);
        return v;
    }

    /** Row r of a tensor before planting. Deterministic in (seed, name, r). */
    float[] baseRow(String name, int r) {
        int d = dims.dModel();
        String[] p = name.split("\\.");
        if (name.equals(Gpt2Layout.WTE)) return gaussian(name, r, d, 0, WTE_STD);
        if (name.equals(Gpt2Layout.WPE)) return gaussian(name, r, d, 0, WPE_STD);
        if (name.equals(Gpt2Layout.LNF_WEIGHT)) return lnWeight(name, d);
        if (name.equals(Gpt2Layout.LNF_BIAS)) return gaussian(name, r, d, 0, BIAS_STD);
        int layer = Integer.parseInt(p[1]);
        String kind = name.substring(name.indexOf('.', 2) + 1);
        switch (kind) {
            case "ln_1.weight", "ln_2.weight" -> { return lnWeight(name, d); }
            case "ln_1.bias", "ln_2.bias", "attn.c_attn.bias", "attn.c_proj.bias", "mlp.c_proj.bias" -> {
                if (layer == 0 && kind.equals("mlp.c_proj.bias")) return mlp0OutputBias();
                int n = kind.equals("attn.c_attn.bias") ? 3 * d : d;
                return gaussian(name, r, n, 0, BIAS_STD);
            }
            case "attn.bias" -> {
                float[] mask = new float[dims.nCtx()];
                for (int j = 0; j <= r; j++) mask[j] = 1f;
                return mask;
            }
            case "attn.c_attn.weight" -> {
                float[] v = gaussian(name, r, 3 * d, 0, layer == 0 ? ATTN_STD / 2 : ATTN_STD);
                return v;
            }
            case "attn.c_proj.weight" -> {
                if (layer == 0) return layer0AttnOutRow(r);
                return gaussian(name, r, d, 0, PROJ_STD);
            }
            case "mlp.c_fc.weight" -> {
                if (layer == 0) return gaussian(name, r, dims.dMlp(), 0, 0.5 / Math.sqrt(d));
                return gaussian(name, r, dims.dMlp(), 0, MLP_STD);
            }
            case "mlp.c_fc.bias" -> {
                if (layer == 0) return gaussian(name, r, dims.dMlp(), MLP0_BIAS, 0.1);
                return gaussian(name, r, dims.dMlp(), -0.1, BIAS_STD);
            }
            case "mlp.c_proj.weight" -> {
                if (layer == 0) return mlp0OutputRow(r);
                return gaussian(name, r, d, 0, MLP_STD * 0.8);
            }
            default -> throw new IllegalStateException("no recipe for tensor " + name);
        }
    }

    private float[] lnWeight(String name, int n) {
        float[] v = gaussian(name, 0, n, 1.0, LN_WEIGHT_STD);
        for (int i = 0; i < n; i++) v[i] = Math.max(0.2f, v[i]);
        return v;
    }

    float[] gaussian(String name, int row, int n, double mean, double std) {
        SplittableRandom rnd = new SplittableRandom(mix(seed, name.hashCode(), row));
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (mean + std * rnd.nextGaussian());
        return v;
    }

    static long mix(long seed, long a, long b) {
        long z = seed * 0x9E3779B97F4A7C15L + a * 0xBF58476D1CE4E5B9L + b * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** A whole base tensor on the heap (layer-0 matrices only; cached). */
    private synchronized float[][] baseMatrix(String name, int rows) {
        return cache.computeIfAbsent(name, n -> {
            float[][] m = new float[rows][];
            for (int r = 0; r < rows; r++) m[r] = baseRow(n, r);
            return m;
        });
    }

    /** Layer-0 attention output: W_O = c · W_Vᵀ head by head, so that V·O is positive semi-definite. */
    private float[] layer0AttnOutRow(int r) {
        int d = dims.dModel();
        float[][] cAttn = baseMatrix(Gpt2Layout.cAttnWeight(0), d);
        // row r of c_proj belongs to head r / d_h, V-column (2d + r) of c_attn
        double c = 1.0 / (d * (ATTN_STD / 2) * (ATTN_STD / 2));
        float[] out = new float[d];
        for (int j = 0; j < d; j++) out[j] = (float) (c / Math.sqrt(d) * cAttn[j][2 * d + r]);
        return out;
    }

    /** MLP0 output projection: c · W_fcᵀ (rows of c_proj are columns of c_fc). */
    private float[] mlp0OutputRow(int r) {
        int d = dims.dModel();
        float[][] fc = baseMatrix(Gpt2Layout.fcWeight(0), d);
        double c = 4.0 * d / dims.dMlp();
        float[] out = new float[d];
        for (int j = 0; j < d; j++) out[j] = (float) (c * fc[j][r]);
        return out;
    }

    /** Cancels the constant gelu(bias) @ W_pr so MLP0's output is centred on the linear part. */
    private float[] mlp0OutputBias() {
        int d = dims.dModel();
        float[] bfc = baseRow(Gpt2Layout.fcBias(0), 0);
        float[] out = new float[d];
        for (int k = 0; k < dims.dMlp(); k++) {
            float g = (float) geluNew(bfc[k]);
            float[] row = mlp0OutputRow(k);
            for (int j = 0; j < d; j++) out[j] -= g * row[j];
        }
        return out;
    }

    static double geluNew(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    private void writeConfig(Path config) throws IOException {
        ObjectMapper om = io.headscan.Json.MAPPER;
        ObjectNode n = om.createObjectNode();
        n.put("model_type", "gpt2");
        n.putArray("architectures").add("GPT2LMHeadModel");
        n.put("vocab_size", dims.vocab());
        n.put("n_positions", dims.nCtx());
        n.put("n_ctx", dims.nCtx());
        n.put("n_embd", dims.dModel());
        n.put("n_layer", dims.layers());
        n.put("n_head", dims.heads());
        if (dims.dMlp() == 4 * dims.dModel()) n.putNull("n_inner"); else n.put("n_inner", dims.dMlp());
        n.put("activation_function", "gelu_new");
        n.put("layer_norm_epsilon", 1e-5);
        ObjectNode s = n.putObject("headscan_synth");
        s.put("seed", seed);
        s.put("plant", String.join(",", planted.stream().map(HeadId::toString).toList()));
        s.put("plant_diagonal_logit", PLANT_DIAGONAL_LOGIT);
        io.headscan.AtomicFiles.writeString(config, om.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n");
    }

    /**
     * The planted heads' weights. Built once, before any tensor is written: the random R of each head,
     * and α from a calibration of the diagonal score on sample tokens.
     */
    final class PlantedWeights {
        private final Map<HeadId, float[][]> r = new HashMap<>(); // [d][d_h]
        private final Map<HeadId, Double> alpha = new HashMap<>();

        PlantedWeights() {
            int d = dims.dModel();
            int dh = dims.dHead();
            for (HeadId h : planted) {
                float[][] m = new float[d][];
                for (int i = 0; i < d; i++) m[i] = gaussian("plant." + h, i, dh, 0, 1 / Math.sqrt(d));
                r.put(h, m);
            }
            calibrate();
        }

        void apply(String name, int row, float[] v) {
            int d = dims.dModel();
            int dh = dims.dHead();
            for (HeadId h : planted) {
                int l = h.layer();
                float[][] rh = r.get(h);
                if (name.equals(Gpt2Layout.cAttnWeight(l))) {
                    float g = baseRow(Gpt2Layout.ln1Weight(l), 0)[row];
                    double a = alpha.getOrDefault(h, 1.0);
                    for (int j = 0; j < dh; j++) {
                        float x = rh[row][j] / g;
                        v[h.head() * dh + j] = (float) (a * calibration.queryScale() * x);   // Q
                        v[d + h.head() * dh + j] = (float) (a * x);      // K
                        v[2 * d + h.head() * dh + j] = x;                // V
                    }
                } else if (name.equals(Gpt2Layout.attnProjWeight(l)) && row / dh == h.head()) {
                    int j = row % dh;
                    for (int i = 0; i < d; i++) v[i] = -rh[i][j];      // O = -Rᵀ
                }
            }
        }

        /** Layer-0 weights exactly as written (planted heads in layer 0 included). */
        private float[][] finalLayer0(String name, int rows) {
            float[][] m = new float[rows][];
            for (int i = 0; i < rows; i++) {
                m[i] = baseRow(name, i);
                apply(name, i, m[i]);
            }
            return m;
        }

        private void calibrate() {
            int d = dims.dModel();
            int dh = dims.dHead();
            int dm = dims.dMlp();
            // layer-0 attention as written (planted heads included); a parallel block's MLP never reads it
            float[][] cAttn0 = calibration.parallel() ? null : finalLayer0(Gpt2Layout.cAttnWeight(0), d);
            float[][] proj0 = calibration.parallel() ? null : finalLayer0(Gpt2Layout.attnProjWeight(0), d);
            float[][] fc0 = baseMatrix(Gpt2Layout.fcWeight(0), d);
            float[] bfc0 = baseRow(Gpt2Layout.fcBias(0), 0);
            float[] bpr0 = mlp0OutputBias();
            float[] g10 = baseRow(Gpt2Layout.ln1Weight(0), 0);
            Calibration cal = calibration;
            // the norm in front of MLP0: ln_2, or the block's one norm ln_1 (GPT-J)
            float[] g20 = baseRow(cal.sharedNorm() ? Gpt2Layout.ln1Weight(0) : Gpt2Layout.ln2Weight(0), 0);
            float[] b20 = baseRow(cal.sharedNorm() ? Gpt2Layout.ln1Bias(0) : Gpt2Layout.ln2Bias(0), 0);
            float[] gf = baseRow(Gpt2Layout.LNF_WEIGHT, 0);
            float[][] pr0 = new float[dm][];
            for (int k = 0; k < dm; k++) pr0[k] = mlp0OutputRow(k);
            int[] tokens = calibrationTokens();
            int n = tokens.length;
            double[][] u = new double[n][];
            double[][] wee = new double[n][];
            for (int i = 0; i < n; i++) {
                int t = tokens[i];
                double[] e = toDouble(baseRow(Gpt2Layout.WTE, t));
                double[] ug = new double[d];
                for (int j = 0; j < d; j++) ug[j] = gf[j] * e[j];
                u[i] = center(ug);
                // hackathon W_EE (docs/science.md §2, §9), computed here only to calibrate α
                double[] res;
                if (cal.parallel()) {
                    res = center(e);   // the MLP reads the block's input: layer-0 attention plays no part
                } else {
                    double[] x = lnpre(e);
                    for (int j = 0; j < d; j++) x[j] *= g10[j];
                    double[] vv = new double[d];
                    for (int j = 0; j < d; j++) for (int c = 0; c < d; c++) vv[c] += x[j] * cAttn0[j][2 * d + c];
                    double[] a = new double[d];
                    for (int c = 0; c < d; c++) for (int j = 0; j < d; j++) a[j] += vv[c] * proj0[c][j];
                    a = center(a);
                    double[] ce = center(e);
                    res = new double[d];
                    for (int j = 0; j < d; j++) res[j] = ce[j] + a[j];
                }
                double[] y = lnpre(res);
                for (int j = 0; j < d; j++) y[j] = y[j] * g20[j] + b20[j];
                double[] hid = new double[dm];
                for (int j = 0; j < d; j++) for (int k = 0; k < dm; k++) hid[k] += y[j] * fc0[j][k];
                double[] out = new double[d];
                for (int k = 0; k < dm; k++) {
                    double g = cal.act(hid[k] + bfc0[k]);
                    for (int j = 0; j < d; j++) out[j] += g * pr0[k][j];
                }
                for (int j = 0; j < d; j++) out[j] += bpr0[j];
                wee[i] = center(out);
            }
            for (HeadId h : planted) {
                float[][] rh = r.get(h);
                double diag = 0;
                for (int i = 0; i < n; i++) {
                    double[] pu = project(rh, u[i], dh);
                    double[] pw = project(rh, wee[i], dh);
                    for (int j = 0; j < dh; j++) diag += pu[j] * pw[j];
                }
                diag /= n;
                double a2 = PLANT_DIAGONAL_LOGIT * Math.sqrt(dh) / Math.max(1e-12, Math.abs(diag));
                alpha.put(h, Math.sqrt(a2) * Math.signum(diag == 0 ? 1 : diag));
            }
        }

        private double[] project(float[][] rh, double[] x, int dh) {
            double[] out = new double[dh];
            for (int i = 0; i < x.length; i++) for (int j = 0; j < dh; j++) out[j] += x[i] * rh[i][j];
            return out;
        }
    }

    private static double[] toDouble(float[] f) {
        double[] out = new double[f.length];
        for (int i = 0; i < f.length; i++) out[i] = f[i];
        return out;
    }

    private static double[] center(double[] x) {
        double m = 0;
        for (double v : x) m += v;
        m /= x.length;
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] - m;
        return out;
    }

    private static double[] lnpre(double[] x) {
        double[] c = center(x);
        double ss = 0;
        for (double v : c) ss += v * v;
        double s = Math.sqrt(ss / c.length + 1e-5);
        for (int i = 0; i < c.length; i++) c[i] /= s;
        return c;
    }

    /** Planted head list for messages. */
    public static List<String> names(List<HeadId> heads) {
        List<String> out = new ArrayList<>();
        for (HeadId h : heads) out.add(h.toString());
        return out;
    }
}
