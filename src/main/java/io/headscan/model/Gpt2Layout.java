package io.headscan.model;

import java.util.ArrayList;
import java.util.List;

/**
 * The tensor names and shapes of the Hugging Face GPT-2 layout (docs/science.md §0), in the order the
 * real {@code model.safetensors} lists them. One source of truth for the model reader and for
 * {@code synth}.
 */
public final class Gpt2Layout {

    private Gpt2Layout() {}

    /** An expected tensor: its name (without the optional {@code transformer.} prefix) and shape. */
    public record Entry(String name, long[] shape, boolean maskBuffer) {}

    public static String ln1Weight(int l) { return "h." + l + ".ln_1.weight"; }
    public static String ln1Bias(int l) { return "h." + l + ".ln_1.bias"; }
    public static String maskBuffer(int l) { return "h." + l + ".attn.bias"; }
    public static String cAttnWeight(int l) { return "h." + l + ".attn.c_attn.weight"; }
    public static String cAttnBias(int l) { return "h." + l + ".attn.c_attn.bias"; }
    public static String attnProjWeight(int l) { return "h." + l + ".attn.c_proj.weight"; }
    public static String attnProjBias(int l) { return "h." + l + ".attn.c_proj.bias"; }
    public static String ln2Weight(int l) { return "h." + l + ".ln_2.weight"; }
    public static String ln2Bias(int l) { return "h." + l + ".ln_2.bias"; }
    public static String fcWeight(int l) { return "h." + l + ".mlp.c_fc.weight"; }
    public static String fcBias(int l) { return "h." + l + ".mlp.c_fc.bias"; }
    public static String mlpProjWeight(int l) { return "h." + l + ".mlp.c_proj.weight"; }
    public static String mlpProjBias(int l) { return "h." + l + ".mlp.c_proj.bias"; }
    public static final String WTE = "wte.weight";
    public static final String WPE = "wpe.weight";
    public static final String LNF_WEIGHT = "ln_f.weight";
    public static final String LNF_BIAS = "ln_f.bias";

    /** Every tensor of the layout, mask buffers included (160 for GPT-2 Small). */
    public static List<Entry> entries(Dims dims) {
        long d = dims.dModel();
        long m = dims.dMlp();
        long n = dims.nCtx();
        List<Entry> out = new ArrayList<>();
        out.add(new Entry(WTE, new long[] {dims.vocab(), d}, false));
        out.add(new Entry(WPE, new long[] {n, d}, false));
        for (int l = 0; l < dims.layers(); l++) {
            out.add(new Entry(ln1Weight(l), new long[] {d}, false));
            out.add(new Entry(ln1Bias(l), new long[] {d}, false));
            out.add(new Entry(maskBuffer(l), new long[] {1, 1, n, n}, true));
            out.add(new Entry(cAttnWeight(l), new long[] {d, 3 * d}, false));
            out.add(new Entry(cAttnBias(l), new long[] {3 * d}, false));
            out.add(new Entry(attnProjWeight(l), new long[] {d, d}, false));
            out.add(new Entry(attnProjBias(l), new long[] {d}, false));
            out.add(new Entry(ln2Weight(l), new long[] {d}, false));
            out.add(new Entry(ln2Bias(l), new long[] {d}, false));
            out.add(new Entry(fcWeight(l), new long[] {d, m}, false));
            out.add(new Entry(fcBias(l), new long[] {m}, false));
            out.add(new Entry(mlpProjWeight(l), new long[] {m, d}, false));
            out.add(new Entry(mlpProjBias(l), new long[] {d}, false));
        }
        out.add(new Entry(LNF_WEIGHT, new long[] {d}, false));
        out.add(new Entry(LNF_BIAS, new long[] {d}, false));
        return out;
    }
}
