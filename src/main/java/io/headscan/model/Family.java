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
 * @param more           what the RMSNorm, gated-MLP and grouped-query families add ({@link More#LAYER_NORM} for the
 *                       others)
 */
public record Family(String modelType, String label, String prefix, List<String> altPrefixes, String embed, String positions, String unembed, String unembedBias,
                     String finalNormWeight, String finalNormBias, Qkv qkv, String q, String k, String v, String o, boolean oLinear,
                     String ln1Weight, String ln1Bias, String ln2Weight, String ln2Bias,
                     String mlpIn, String mlpInBias, String mlpOut, String mlpOutBias, boolean mlpLinear,
                     List<String> buffers, Keys keys, Map<String, Object> refusedUnless, Map<String, Equal> equalKeys, BaseScale attentionScale,
                     boolean parallel, boolean rotary, More more) {

    /** The kind of every norm of a family (docs/science.md §9). */
    public enum NormKind {
        LAYER_NORM("LayerNorm", true), RMS_NORM("RMSNorm", false), RMS_NORM_PLUS_ONE("RMSNorm with weight 1 + w", false),
        LAYER_NORM_NO_PARAMETERS("LayerNorm without weight or bias", true);

        private final String label;
        private final boolean centred;

        NormKind(String label, boolean centred) {
            this.label = label;
            this.centred = centred;
        }

        public String label() {
            return label;
        }

        /** Whether the norm removes the mean (LayerNorm): then writing weights are centred (center_writing_weights). */
        public boolean centred() {
            return centred;
        }
    }

    /**
     * What the RMSNorm, gated-MLP and grouped-query families add to a row.
     *
     * @param norm               the kind of every norm
     * @param defaultEps         the norm epsilon when the config does not give one
     * @param mlpGate            the gate projection of a gated MLP ({@code down(act(gate(x)) * up(x))}; {@code mlpIn}
     *                           is then the up projection), or null
     * @param postAttentionNorm  a norm on the attention output before the residual add (Gemma-2), or null
     * @param postMlpNorm        a norm on the MLP output (Gemma-2), or null
     * @param embedScaled        whether the residual input is the embedding times sqrt(d) (Gemma)
     * @param tiedByConfig       whether the unembedding ({@code unembed}) is tied or not as tie_word_embeddings says
     * @param kvHeads            the key/value head count keys (grouped-query attention), empty: as many as heads
     * @param headDim            the head width key (null or unset: d_model / heads)
     * @param queryPreAttnScalar the key whose value s makes the attention scale s^(-1/2) (Gemma-2), or null
     * @param attnSoftcap        the attention-logit soft-capping key (Gemma-2), or null
     * @param finalSoftcap       the final-logit soft-capping key (Gemma-2), or null
     * @param defaults           transformers' value of a key above when config.json does not write it
     * @param activationAliases  activation names with a family-specific meaning (Gemma's legacy "gelu" is the tanh form)
     * @param notApplied         config keys that change the model's forward pass but not these quantities' definition
     *                           (OLMo's clip_qkv): key → what reports say when it is set
     */
    public record More(NormKind norm, double defaultEps, String mlpGate, String postAttentionNorm, String postMlpNorm,
                       boolean embedScaled, boolean tiedByConfig, List<String> kvHeads, String headDim, String queryPreAttnScalar,
                       String attnSoftcap, String finalSoftcap, Map<String, Double> defaults, Map<String, Activation> activationAliases,
                       Map<String, String> notApplied) {

        /** The LayerNorm families of part 1: nothing more. */
        public static final More LAYER_NORM = new More(NormKind.LAYER_NORM, 1e-5, null, null, null, false, false, List.of(), null,
                null, null, null, Map.of(), Map.of(), Map.of());
    }

    /** Whether the MLP is gated (SwiGLU, GeGLU). */
    public boolean gated() {
        return more.mlpGate() != null;
    }

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
            Map.of("add_cross_attention", false), Map.of(), BaseScale.INVERSE_SQRT_D_HEAD, false, false, More.LAYER_NORM);

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
            Map.of(), Map.of(), BaseScale.INVERSE_SQRT_D_HEAD, true, true, More.LAYER_NORM);

    public static final Family GPT_NEO = new Family("gpt_neo", "GPT-Neo", "transformer.", List.of(), "wte.weight", "wpe.weight", null, null,
            "ln_f.weight", "ln_f.bias", Qkv.SEPARATE, "h.{L}.attn.attention.q_proj.weight", "h.{L}.attn.attention.k_proj.weight",
            "h.{L}.attn.attention.v_proj.weight", "h.{L}.attn.attention.out_proj.weight", true,
            "h.{L}.ln_1.weight", "h.{L}.ln_1.bias", "h.{L}.ln_2.weight", "h.{L}.ln_2.bias",
            "h.{L}.mlp.c_fc.weight", "h.{L}.mlp.c_fc.bias", "h.{L}.mlp.c_proj.weight", "h.{L}.mlp.c_proj.bias", true,
            List.of(".attn.attention.bias", ".attn.attention.masked_bias"),
            new Keys(List.of("num_heads", "num_attention_heads"), List.of("hidden_size"), List.of("num_layers", "num_hidden_layers"),
                    List.of("vocab_size"), List.of("intermediate_size"), true, List.of("max_position_embeddings"),
                    List.of("layer_norm_epsilon"), List.of("activation_function"), Activation.GELU_TANH, null, null, null, "tie_word_embeddings"),
            Map.of(), Map.of(), BaseScale.ONE, false, false, More.LAYER_NORM);

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
            Map.of("word_embed_proj_dim", new Equal("hidden_size", "the embedding is projected (project_in/out, as in opt-350m)")), BaseScale.INVERSE_SQRT_D_HEAD, false, false, More.LAYER_NORM);

    public static final Family GPTJ = new Family("gptj", "GPT-J", "transformer.", List.of(), "wte.weight", null, "lm_head.weight", "lm_head.bias",
            "ln_f.weight", "ln_f.bias", Qkv.SEPARATE, "h.{L}.attn.q_proj.weight", "h.{L}.attn.k_proj.weight", "h.{L}.attn.v_proj.weight",
            "h.{L}.attn.out_proj.weight", true,
            "h.{L}.ln_1.weight", "h.{L}.ln_1.bias", null, null,
            "h.{L}.mlp.fc_in.weight", "h.{L}.mlp.fc_in.bias", "h.{L}.mlp.fc_out.weight", "h.{L}.mlp.fc_out.bias", true,
            List.of(".attn.bias", ".attn.masked_bias", ".attn.embed_positions"),
            new Keys(List.of("n_head", "num_attention_heads"), List.of("n_embd", "hidden_size"), List.of("n_layer", "num_hidden_layers"),
                    List.of("vocab_size"), List.of("n_inner"), true, List.of("n_positions", "max_position_embeddings"),
                    List.of("layer_norm_epsilon"), List.of("activation_function"), Activation.GELU_TANH, null, null, null, "tie_word_embeddings"),
            Map.of(), Map.of(), BaseScale.INVERSE_SQRT_D_HEAD, true, true, More.LAYER_NORM);

    /** The config keys of the Llama-like families (transformers' LlamaConfig and its descendants). */
    private static Keys llamaKeys(List<String> activation, Activation defaultActivation, List<String> eps) {
        return new Keys(List.of("num_attention_heads"), List.of("hidden_size"), List.of("num_hidden_layers"), List.of("vocab_size"),
                List.of("intermediate_size"), false, List.of("max_position_embeddings"), eps, activation, defaultActivation, null, null, null,
                "tie_word_embeddings");
    }

    /**
     * A Llama-like row (docs/science.md §9.1): {@code model.layers.L.self_attn.{q,k,v,o}_proj}, Linear [out, in], k and v
     * with H_kv·d_h rows; {@code input_layernorm} before attention; a gated MLP {@code down(act(gate(x)) * up(x))};
     * rotary positions. Q/K/V/O biases (Qwen2) are dropped as every attention bias is.
     */
    private static Family llamaLike(String type, String label, String unembed, String preMlpNorm, Keys keys, Map<String, Object> refused,
                                    More more) {
        String a = "layers.{L}.self_attn.";
        boolean normless = more.norm() == NormKind.LAYER_NORM_NO_PARAMETERS;
        return new Family(type, label, "model.", List.of(), "embed_tokens.weight", null, unembed, null,
                normless ? null : "norm.weight", null, Qkv.SEPARATE, a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight",
                a + "o_proj.weight", true, normless ? null : "layers.{L}.input_layernorm.weight", null, preMlpNorm, null,
                "layers.{L}.mlp.up_proj.weight", null, "layers.{L}.mlp.down_proj.weight", null, true,
                List.of(".self_attn.rotary_emb.inv_freq"), keys, refused, Map.of(), BaseScale.INVERSE_SQRT_D_HEAD, false, true, more);
    }

    private static final String GATE = "layers.{L}.mlp.gate_proj.weight";
    private static final List<String> KV_HEADS = List.of("num_key_value_heads");

    private static More rms(NormKind norm, boolean embedScaled, boolean tiedByConfig, String postAttn, String postMlp, String scalar,
                            String attnCap, String finalCap, Map<String, Double> defaults, Map<String, Activation> aliases,
                            Map<String, String> notApplied) {
        return new More(norm, norm.centred() ? 1e-5 : 1e-6, GATE, postAttn, postMlp, embedScaled, tiedByConfig, KV_HEADS, "head_dim",
                scalar, attnCap, finalCap, defaults, aliases, notApplied);
    }

    private static final More LLAMA_MORE = rms(NormKind.RMS_NORM, false, true, null, null, null, null, null, Map.of(), Map.of(), Map.of());
    private static final Keys LLAMA_KEYS = llamaKeys(List.of("hidden_act"), Activation.SILU, List.of("rms_norm_eps"));
    private static final String POST_ATTN = "layers.{L}.post_attention_layernorm.weight";

    public static final Family LLAMA = llamaLike("llama", "Llama", "lm_head.weight", POST_ATTN, LLAMA_KEYS,
            Map.of("mlp_bias", false), LLAMA_MORE);

    public static final Family MISTRAL = llamaLike("mistral", "Mistral", "lm_head.weight", POST_ATTN, LLAMA_KEYS, Map.of(), LLAMA_MORE);

    public static final Family QWEN2 = llamaLike("qwen2", "Qwen2", "lm_head.weight", POST_ATTN, LLAMA_KEYS, Map.of(), LLAMA_MORE);

    /** Gemma: (1 + w) RMSNorms, the embedding × sqrt(d) on the input side, GeGLU (its legacy "gelu" is the tanh form), tied. */
    public static final Family GEMMA = llamaLike("gemma", "Gemma", null, POST_ATTN,
            llamaKeys(List.of("hidden_act"), Activation.GELU_TANH, List.of("rms_norm_eps")), Map.of(),
            rms(NormKind.RMS_NORM_PLUS_ONE, true, false, null, null, null, null, null, Map.of("head_dim", 256.0),
                    Map.of("gelu", Activation.GELU_TANH), Map.of()));

    /**
     * Gemma-2: as Gemma with sandwich norms (post_attention_layernorm is on the attention output, pre_feedforward_layernorm
     * before the MLP, post_feedforward_layernorm after it), the scale query_pre_attn_scalar^(-1/2), and soft-capping.
     */
    public static final Family GEMMA2 = llamaLike("gemma2", "Gemma-2", null, "layers.{L}.pre_feedforward_layernorm.weight",
            llamaKeys(List.of("hidden_activation"), Activation.GELU_TANH, List.of("rms_norm_eps")), Map.of(),
            rms(NormKind.RMS_NORM_PLUS_ONE, true, false, POST_ATTN, "layers.{L}.post_feedforward_layernorm.weight", "query_pre_attn_scalar",
                    "attn_logit_softcapping", "final_logit_softcapping",
                    Map.of("head_dim", 256.0, "query_pre_attn_scalar", 256.0, "attn_logit_softcapping", 50.0, "final_logit_softcapping", 30.0),
                    Map.of(), Map.of()));

    /** OLMo-1 ({@code -hf}): LayerNorms without weight or bias (no tensors, eps 1e-5 fixed), SwiGLU. */
    public static final Family OLMO = llamaLike("olmo", "OLMo", "lm_head.weight", null, llamaKeys(List.of("hidden_act"), Activation.SILU, List.of()),
            Map.of(), rms(NormKind.LAYER_NORM_NO_PARAMETERS, false, true, null, null, null, null, null, Map.of(), Map.of(),
                    Map.of("clip_qkv", "clip_qkv is not applied (as TransformerLens's QK and OV circuits)")));

    /** Every family headscan reads, in the order they are tried on a checkpoint without config.json. */
    public static final List<Family> ALL = List.of(GPT2, GPT_NEOX, GPT_NEO, OPT, GPTJ, LLAMA, MISTRAL, QWEN2, GEMMA, GEMMA2, OLMO);

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
            case "mixtral", "qwen2_moe", "olmoe", "deepseek_v2", "deepseek_v3" -> "mixture-of-experts MLPs have no definition in headscan yet";
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
