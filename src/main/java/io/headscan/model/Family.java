package io.headscan.model;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One decoder-only model family as a table row (docs/science.md §9, §9.1): where its tensors are and how they are laid
 * out, its block kind, its MLP, its attention scale, its unembedding, and the config.json keys it reads. {@link Model}
 * turns any row into the canonical per-head views the science uses, so a family is added by adding a row, and
 * {@code circuits/} never asks which family it computes on.
 *
 * <p>Tensor names are patterns relative to {@link #prefix} (optional in a file, as a base model saves without it), with
 * {@code {L}} for the layer; {@link #unembed} and {@link #unembedBias} are whole names (the LM head sits outside the
 * base model). A null {@link #ln2Weight} means the block's one norm serves both (GPT-J).
 *
 * @param modelType      config.json's {@code model_type}
 * @param label          how reports name the family
 * @param prefix         the base model's prefix ("transformer.", "gpt_neox.", "model.decoder.")
 * @param altPrefixes    other prefixes files of the family use, tried after {@code prefix} and before none (the larger
 *                       OPT checkpoints on the Hub were saved from the base model: "decoder.")
 * @param embed          token embedding [V, d]
 * @param positions      learned position embedding [n_ctx, d] or null (rotary families; OPT's has an offset: unused)
 * @param unembed        untied unembedding [V, d] (a Linear's [out, in]), or null when tied to {@link #embed}
 * @param unembedBias    its bias [V] or null
 * @param qkv            how Q, K and V are stored
 * @param q              Q's weight, or the fused QKV weight
 * @param k              K's weight (separate layouts only)
 * @param v              V's weight (separate layouts only)
 * @param o              the attention output weight
 * @param oLinear        whether {@link #o} is a Linear [out, in] (else Conv1D [in, out])
 * @param mlpLinear      whether the MLP weights are Linear [out, in] (else Conv1D [in, out])
 * @param buffers        name suffixes of per-layer tensors that are buffers, not parameters (ignored, never refused)
 * @param keys           the config keys this family reads
 * @param refusedUnless  config keys whose other values change the model in ways headscan does not compute: key → the
 *                       value it must have (when written)
 * @param equalKeys      config keys that must equal another key's value when written (OPT's word_embed_proj_dim →
 *                       hidden_size: otherwise project_in/project_out sit around the decoder, as in opt-350m)
 * @param rotary         whether attention positions are rotary (scored at relative offset 0)
 * @param attentionScale the family's base scale: 1/sqrt(d_h), or 1 (GPT-Neo)
 * @param parallel       the block kind when the config does not say (see {@link Keys#parallel})
 */
public record Family(String modelType, String label, String prefix, List<String> altPrefixes, String embed, String positions, String unembed, String unembedBias,
                     String finalNormWeight, String finalNormBias, Qkv qkv, String q, String k, String v, String o, boolean oLinear,
                     String ln1Weight, String ln1Bias, String ln2Weight, String ln2Bias,
                     String mlpIn, String mlpInBias, String mlpOut, String mlpOutBias, boolean mlpLinear,
                     List<String> buffers, Keys keys, Map<String, Object> refusedUnless, Map<String, Equal> equalKeys, BaseScale attentionScale,
                     boolean parallel, boolean rotary) {

    /** How a family stores Q, K and V. */
    public enum Qkv {
        /** One Conv1D [d, 3d]: columns Q | K | V, head h at columns h·d_h of each third (GPT-2). */
        FUSED_THIRDS,
        /** One Linear [3d, d]: rows ordered (head, {q, k, v}, d_h) (GPT-NeoX). */
        FUSED_BY_HEAD,
        /** Three Linear [d, d]: head h at rows h·d_h (GPT-Neo, OPT, GPT-J). */
        SEPARATE
    }

    /** A config key that must equal another (when both are written), and what a difference would mean. */
    public record Equal(String otherKey, String otherwise) {}

    /** The attention scale before any per-layer flag. */
    public enum BaseScale { INVERSE_SQRT_D_HEAD, ONE }

    /**
     * The config keys a family reads. Lists are a key and its aliases (transformers' generic names); the first written
     * is used and all written must agree.
     *
     * @param heads          head count
     * @param dModel         residual width
     * @param layers         layer count
     * @param vocab          vocabulary size
     * @param dMlp           MLP width (null in the file meaning 4·d where {@code dMlpNullIs4d})
     * @param positions      context length
     * @param eps            LayerNorm epsilon
     * @param activation     MLP activation
     * @param defaultActivation the activation when the config does not name one
     * @param parallel       the key that chooses a parallel block (GPT-NeoX's use_parallel_residual), or null
     * @param scaleWeights   GPT-2's scale_attn_weights (false: no 1/sqrt(d_h)), or null
     * @param inverseLayer   GPT-2's scale_attn_by_inverse_layer_idx (divide layer l's logits by l + 1), or null
     * @param tied           tie_word_embeddings
     */
    public record Keys(List<String> heads, List<String> dModel, List<String> layers, List<String> vocab, List<String> dMlp,
                       boolean dMlpNullIs4d, List<String> positions, List<String> eps, List<String> activation,
                       Activation defaultActivation, String parallel, String scaleWeights, String inverseLayer, String tied) {}

    private static final double DEFAULT_EPS = 1e-5;

    /** LayerNorm epsilon: transformers' default for every family here. */
    public static double defaultEps() {
        return DEFAULT_EPS;
    }

    /** A tensor name of layer {@code layer} from a pattern, without the prefix. */
    public static String at(String pattern, int layer) {
        return pattern == null ? null : pattern.replace("{L}", Integer.toString(layer));
    }

    /** The prefixes a file of this family may use, in the order tried: {@link #prefix}, {@link #altPrefixes}, none. */
    public List<String> prefixes() {
        List<String> all = new java.util.ArrayList<>();
        all.add(prefix);
        all.addAll(altPrefixes);
        all.add("");
        return all;
    }

    public boolean tied() {
        return unembed == null;
    }

    public static final Family GPT2 = new Family("gpt2", "GPT-2", "transformer.", List.of(), "wte.weight", "wpe.weight", null, null,
            "ln_f.weight", "ln_f.bias", Qkv.FUSED_THIRDS, "h.{L}.attn.c_attn.weight", null, null, "h.{L}.attn.c_proj.weight", false,
            "h.{L}.ln_1.weight", "h.{L}.ln_1.bias", "h.{L}.ln_2.weight", "h.{L}.ln_2.bias",
            "h.{L}.mlp.c_fc.weight", "h.{L}.mlp.c_fc.bias", "h.{L}.mlp.c_proj.weight", "h.{L}.mlp.c_proj.bias", false,
            List.of(".attn.bias", ".attn.masked_bias"),
            new Keys(List.of("n_head", "num_attention_heads"), List.of("n_embd", "hidden_size"), List.of("n_layer", "num_hidden_layers"),
                    List.of("vocab_size"), List.of("n_inner"), true, List.of("n_positions", "max_position_embeddings"),
                    List.of("layer_norm_epsilon"), List.of("activation_function"), Activation.GELU_TANH, null,
                    "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "tie_word_embeddings"),
            Map.of("add_cross_attention", false), Map.of(), BaseScale.INVERSE_SQRT_D_HEAD, false, false);

    public static final Family GPT_NEOX = new Family("gpt_neox", "GPT-NeoX", "gpt_neox.", List.of(), "embed_in.weight", null, "embed_out.weight", null,
            "final_layer_norm.weight", "final_layer_norm.bias", Qkv.FUSED_BY_HEAD, "layers.{L}.attention.query_key_value.weight", null, null,
            "layers.{L}.attention.dense.weight", true,
            "layers.{L}.input_layernorm.weight", "layers.{L}.input_layernorm.bias",
            "layers.{L}.post_attention_layernorm.weight", "layers.{L}.post_attention_layernorm.bias",
            "layers.{L}.mlp.dense_h_to_4h.weight", "layers.{L}.mlp.dense_h_to_4h.bias",
            "layers.{L}.mlp.dense_4h_to_h.weight", "layers.{L}.mlp.dense_4h_to_h.bias", true,
            List.of(".attention.bias", ".attention.masked_bias", ".attention.rotary_emb.inv_freq"),
            new Keys(List.of("num_attention_heads"), List.of("hidden_size"), List.of("num_hidden_layers"), List.of("vocab_size"),
                    List.of("intermediate_size"), false, List.of("max_position_embeddings"), List.of("layer_norm_eps"),
                    List.of("hidden_act"), Activation.GELU_ERF, "use_parallel_residual", null, null, "tie_word_embeddings"),
            Map.of(), Map.of(), BaseScale.INVERSE_SQRT_D_HEAD, true, true);

    public static final Family GPT_NEO = new Family("gpt_neo", "GPT-Neo", "transformer.", List.of(), "wte.weight", "wpe.weight", null, null,
            "ln_f.weight", "ln_f.bias", Qkv.SEPARATE, "h.{L}.attn.attention.q_proj.weight", "h.{L}.attn.attention.k_proj.weight",
            "h.{L}.attn.attention.v_proj.weight", "h.{L}.attn.attention.out_proj.weight", true,
            "h.{L}.ln_1.weight", "h.{L}.ln_1.bias", "h.{L}.ln_2.weight", "h.{L}.ln_2.bias",
            "h.{L}.mlp.c_fc.weight", "h.{L}.mlp.c_fc.bias", "h.{L}.mlp.c_proj.weight", "h.{L}.mlp.c_proj.bias", true,
            List.of(".attn.attention.bias", ".attn.attention.masked_bias"),
            new Keys(List.of("num_heads", "num_attention_heads"), List.of("hidden_size"), List.of("num_layers", "num_hidden_layers"),
                    List.of("vocab_size"), List.of("intermediate_size"), true, List.of("max_position_embeddings"),
                    List.of("layer_norm_epsilon"), List.of("activation_function"), Activation.GELU_TANH, null, null, null, "tie_word_embeddings"),
            Map.of(), Map.of(), BaseScale.ONE, false, false);

    public static final Family OPT = new Family("opt", "OPT", "model.decoder.", List.of("decoder."), "embed_tokens.weight", null, null, null,
            "final_layer_norm.weight", "final_layer_norm.bias", Qkv.SEPARATE, "layers.{L}.self_attn.q_proj.weight",
            "layers.{L}.self_attn.k_proj.weight", "layers.{L}.self_attn.v_proj.weight", "layers.{L}.self_attn.out_proj.weight", true,
            "layers.{L}.self_attn_layer_norm.weight", "layers.{L}.self_attn_layer_norm.bias",
            "layers.{L}.final_layer_norm.weight", "layers.{L}.final_layer_norm.bias",
            "layers.{L}.fc1.weight", "layers.{L}.fc1.bias", "layers.{L}.fc2.weight", "layers.{L}.fc2.bias", true,
            List.of(),
            new Keys(List.of("num_attention_heads"), List.of("hidden_size"), List.of("num_hidden_layers"), List.of("vocab_size"),
                    List.of("ffn_dim"), false, List.of("max_position_embeddings"), List.of(), List.of("activation_function"),
                    Activation.RELU, null, null, null, "tie_word_embeddings"),
            Map.of("do_layer_norm_before", true, "enable_bias", true, "layer_norm_elementwise_affine", true,
                    "_remove_final_layer_norm", false),
            Map.of("word_embed_proj_dim", new Equal("hidden_size", "the embedding is projected (project_in/out, as in opt-350m)")), BaseScale.INVERSE_SQRT_D_HEAD, false, false);

    public static final Family GPTJ = new Family("gptj", "GPT-J", "transformer.", List.of(), "wte.weight", null, "lm_head.weight", "lm_head.bias",
            "ln_f.weight", "ln_f.bias", Qkv.SEPARATE, "h.{L}.attn.q_proj.weight", "h.{L}.attn.k_proj.weight", "h.{L}.attn.v_proj.weight",
            "h.{L}.attn.out_proj.weight", true,
            "h.{L}.ln_1.weight", "h.{L}.ln_1.bias", null, null,
            "h.{L}.mlp.fc_in.weight", "h.{L}.mlp.fc_in.bias", "h.{L}.mlp.fc_out.weight", "h.{L}.mlp.fc_out.bias", true,
            List.of(".attn.bias", ".attn.masked_bias", ".attn.embed_positions"),
            new Keys(List.of("n_head", "num_attention_heads"), List.of("n_embd", "hidden_size"), List.of("n_layer", "num_hidden_layers"),
                    List.of("vocab_size"), List.of("n_inner"), true, List.of("n_positions", "max_position_embeddings"),
                    List.of("layer_norm_epsilon"), List.of("activation_function"), Activation.GELU_TANH, null, null, null, "tie_word_embeddings"),
            Map.of(), Map.of(), BaseScale.INVERSE_SQRT_D_HEAD, true, true);

    /** Every family headscan reads, in the order they are tried on a checkpoint without config.json. */
    public static final List<Family> ALL = List.of(GPT2, GPT_NEOX, GPT_NEO, OPT, GPTJ);

    /** The family of a config's {@code model_type}, if headscan reads it. */
    public static Optional<Family> byModelType(String type) {
        return ALL.stream().filter(f -> f.modelType.equals(type)).findFirst();
    }

    /**
     * Why a known {@code model_type} that headscan does not read is refused (docs/science.md §9: each needs its own
     * definition or a later part), or empty for a type it has never heard of.
     */
    public static Optional<String> refusal(String type) {
        return Optional.ofNullable(switch (type) {
            case "llama", "mistral", "qwen2", "gemma", "gemma2", "olmo", "mixtral" ->
                    "RMSNorm and gated-MLP families are not read yet (GPT-2, GPT-NeoX/Pythia, GPT-Neo, OPT and GPT-J are)";
            case "olmo2", "qwen3", "gemma3", "gemma3_text" -> "query/key norms have no definition in headscan yet";
            case "bloom", "mpt", "falcon" -> "ALiBi or other position schemes have no definition in headscan yet";
            case "bert", "roberta", "t5", "bart", "distilbert", "electra", "deberta", "deberta-v2", "mt5", "whisper" ->
                    "encoder and encoder-decoder models have no definition in headscan (it scores decoder-only attention)";
            default -> null;
        });
    }

    /** The model types {@link #ALL} reads, for messages. */
    public static String readTypes() {
        return String.join(", ", ALL.stream().map(Family::modelType).toList());
    }
}
