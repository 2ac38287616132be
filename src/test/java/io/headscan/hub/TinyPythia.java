package io.headscan.hub;

import io.headscan.format.DType;
import io.headscan.format.PyTorchZipWriter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * A GPT-NeoX (Pythia) checkpoint in miniature, saved as a Pythia step branch holds it: {@code pytorch_model.bin} in F16
 * with the tensors of {@code GPTNeoXForCausalLM.state_dict()} in its order (science-spec §9.1), including the buffers
 * that old files carry ({@code attention.bias}, a bool causal mask; {@code attention.masked_bias}, a scalar;
 * {@code attention.rotary_emb.inv_freq}), and a {@code config.json} with Pythia's settings. Deterministic per seed.
 */
record TinyPythia(int layers, int heads, int dModel, int vocab, int positions) {

    static final TinyPythia DEFAULT = new TinyPythia(2, 4, 64, 256, 64);

    int dMlp() {
        return 4 * dModel;
    }

    /** Rotary dimensions per head at rotary_pct 0.25. */
    int rotaryDims() {
        return (int) (dModel / heads * 0.25);
    }

    String config() {
        return String.format(Locale.ROOT, """
                {
                  "architectures": ["GPTNeoXForCausalLM"],
                  "bos_token_id": 0,
                  "eos_token_id": 0,
                  "hidden_act": "gelu",
                  "hidden_size": %d,
                  "initializer_range": 0.02,
                  "intermediate_size": %d,
                  "layer_norm_eps": 1e-05,
                  "max_position_embeddings": %d,
                  "model_type": "gpt_neox",
                  "num_attention_heads": %d,
                  "num_hidden_layers": %d,
                  "rotary_emb_base": 10000,
                  "rotary_pct": 0.25,
                  "tie_word_embeddings": false,
                  "torch_dtype": "float16",
                  "transformers_version": "4.24.0",
                  "use_cache": true,
                  "use_parallel_residual": true,
                  "vocab_size": %d
                }
                """, dModel, dMlp(), positions, heads, layers, vocab);
    }

    byte[] configBytes() {
        return config().getBytes(StandardCharsets.UTF_8);
    }

    /** The bytes of {@code pytorch_model.bin} for this seed. */
    byte[] bin(Path scratch, long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        int d = dModel;
        PyTorchZipWriter w = new PyTorchZipWriter().folder("pytorch_model");
        w.add("gpt_neox.embed_in.weight", DType.F16, new long[] {vocab, d}, normal(rnd, vocab * d, 0.02));
        for (int l = 0; l < layers; l++) {
            String p = "gpt_neox.layers." + l + ".";
            w.add(p + "input_layernorm.weight", DType.F16, new long[] {d}, around(rnd, d, 1, 0.05));
            w.add(p + "input_layernorm.bias", DType.F16, new long[] {d}, normal(rnd, d, 0.01));
            w.add(p + "post_attention_layernorm.weight", DType.F16, new long[] {d}, around(rnd, d, 1, 0.05));
            w.add(p + "post_attention_layernorm.bias", DType.F16, new long[] {d}, normal(rnd, d, 0.01));
            w.add(p + "attention.bias", DType.BOOL, new long[] {1, 1, positions, positions}, causalMask());
            w.add(p + "attention.masked_bias", DType.F32, new long[] {}, f32(-1e9f));
            w.add(p + "attention.rotary_emb.inv_freq", DType.F16, new long[] {rotaryDims() / 2}, invFreq());
            w.add(p + "attention.query_key_value.weight", DType.F16, new long[] {3L * d, d}, normal(rnd, 3 * d * d, 0.02));
            w.add(p + "attention.query_key_value.bias", DType.F16, new long[] {3L * d}, normal(rnd, 3 * d, 0.01));
            w.add(p + "attention.dense.weight", DType.F16, new long[] {d, d}, normal(rnd, d * d, 0.02));
            w.add(p + "attention.dense.bias", DType.F16, new long[] {d}, normal(rnd, d, 0.01));
            w.add(p + "mlp.dense_h_to_4h.weight", DType.F16, new long[] {dMlp(), d}, normal(rnd, dMlp() * d, 0.02));
            w.add(p + "mlp.dense_h_to_4h.bias", DType.F16, new long[] {dMlp()}, normal(rnd, dMlp(), 0.01));
            w.add(p + "mlp.dense_4h_to_h.weight", DType.F16, new long[] {d, dMlp()}, normal(rnd, d * dMlp(), 0.02));
            w.add(p + "mlp.dense_4h_to_h.bias", DType.F16, new long[] {d}, normal(rnd, d, 0.01));
        }
        w.add("gpt_neox.final_layer_norm.weight", DType.F16, new long[] {d}, around(rnd, d, 1, 0.05));
        w.add("gpt_neox.final_layer_norm.bias", DType.F16, new long[] {d}, normal(rnd, d, 0.01));
        w.add("embed_out.weight", DType.F16, new long[] {vocab, d}, normal(rnd, vocab * d, 0.02));
        Files.createDirectories(scratch);
        Path f = Files.createTempFile(scratch, "pythia", ".bin");
        w.write(f);
        byte[] b = Files.readAllBytes(f);
        Files.delete(f);
        return b;
    }

    /** Parameters (the buffers not counted), as the Pythia model cards count them. */
    long parameters() {
        long d = dModel;
        return layers * (12 * d * d + 13 * d) + 2L * vocab * d + 2 * d;
    }

    private static MemorySegment normal(SplittableRandom rnd, int n, double std) {
        ByteBuffer b = ByteBuffer.allocate(2 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) b.putShort(Float.floatToFloat16((float) (gaussian(rnd) * std)));
        return MemorySegment.ofArray(b.array());
    }

    private static MemorySegment around(SplittableRandom rnd, int n, double mean, double std) {
        ByteBuffer b = ByteBuffer.allocate(2 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) b.putShort(Float.floatToFloat16((float) (mean + gaussian(rnd) * std)));
        return MemorySegment.ofArray(b.array());
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = rnd.nextDouble(), v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log1p(-u)) * Math.cos(2 * Math.PI * v);
    }

    private MemorySegment causalMask() {
        byte[] m = new byte[positions * positions];
        for (int i = 0; i < positions; i++) for (int j = 0; j <= i; j++) m[i * positions + j] = 1;
        return MemorySegment.ofArray(m);
    }

    private MemorySegment invFreq() {
        int n = rotaryDims() / 2;
        ByteBuffer b = ByteBuffer.allocate(2 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) b.putShort(Float.floatToFloat16((float) (1 / Math.pow(10000, 2.0 * i / rotaryDims()))));
        return MemorySegment.ofArray(b.array());
    }

    private static MemorySegment f32(float v) {
        return MemorySegment.ofArray(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(v).array());
    }
}
