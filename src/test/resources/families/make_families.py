#!/usr/bin/env python3
"""Writes the model-family fixtures of headscan's tests with transformers itself, and their expected values.

Run from this folder where torch, transformers, safetensors and numpy are installed:  python3 make_families.py
(written with torch 2.13.0+cpu, transformers 5.18.0, safetensors 0.8.0, numpy 2.4.6). Deterministic: fixed seeds.
The outputs are small and committed; the tests never need Python. README.md says what every file is.

Per fixture folder (gpt2, gpt2-crfm, gpt2-flags, pythia, neox-sequential, gpt-neo, opt, gptj):
  config.json, model.safetensors  XxxForCausalLM(config).save_pretrained(folder) after every parameter was redrawn
  bin/                            the same tensors as pytorch_model.bin (torch.save of the state dict, the layout
                                  save_pretrained(safe_serialization=False) wrote before transformers 5) + config.json;
                                  pythia's also carries the buffers of old Pythia checkpoints and a pre-v5 config.json
  bf16/                           pythia and gptj: the model cast to bfloat16, saved as safetensors, own expected.json
  sharded/                        opt: safetensors in >= 2 shards + model.safetensors.index.json
  expected.json                   the quantities of docs/science-spec.md (section 9; 1-5 for GPT-2) from the float64
                                  numpy reference below, which reads the tensors back from the written files

The reference (section "REFERENCE") is plain numpy float64 on the raw HF tensors: no TransformerLens, no HF forward.
Separately (section "CROSS-CHECK"), it is asserted against transformers' own forward pass (eager attention, every
token at position 0 so that rotary is the identity): attention patterns of every head, attention outputs, block
outputs and logits, recomputed from the same head slices with all biases. That pins the head slicing (pythia's
(head, {q,k,v}, d_h) rows, [out, in] Linears, GPT-2's Conv1D [in, out]), the scales, eps, activations, the block
structure (parallel / sequential) and the choice of unembedding to transformers' code, not only to the spec.
"""
import json, math, os, shutil, tempfile

import numpy as np
import torch
from torch import nn
import safetensors.torch
import transformers
from transformers import (GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM, GPTNeoConfig,
                          GPTNeoForCausalLM, OPTConfig, OPTForCausalLM, GPTJConfig, GPTJForCausalLM)
from transformers.pytorch_utils import Conv1D

HERE = os.path.dirname(os.path.abspath(__file__))
transformers.logging.set_verbosity_error()
torch.set_num_threads(1)

# A fixture is kept only if, for every head, no rank comparison of sections 4 and 5 is closer than GAP_THRESHOLD
# relative to the root mean square of its row: |S[t,s] - S[t,t]| (s != t) and |M[s,j] - M[s,s]| (j != s). About one
# seed in 4000 passes 1e-4 at V = 96; a fixture with a bf16 copy needs both to pass, which 1e-4 makes hopeless (one in
# ~10^7), so those two use 5e-5 (one in ~4000 again). A float32 recomputation of the same quantities is off by about
# 2e-6 of the row rms (printed per fixture), so every rank has a margin of 25x or more. The seeds in FIXTURES are the
# first passing ones found searching upwards from 1000, 3000, ...; the search runs again (and stops at once) on every
# regeneration.
GAP_THRESHOLD = 1e-4
GAP_THRESHOLD_BF16 = 5e-5
MAX_SEED_TRIES = 50000
BAG_SEED, BAG_COUNT, BAG_SIZE = 20240611, 4, 8
NAME_SEED, NAME_COUNT = 20240612, 12   # token ids standing in for IOI names (section 5's copy scores)

COMMON = dict(bos_token_id=0, eos_token_id=0)
FIXTURES = [
    # name, model class, config, weight seed (the search starts there; found from 1000, 3000, 4000, 5000, 6000,
    # 7000, 8000), extras
    ("gpt2", GPT2LMHeadModel,
     GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=4, n_inner=None, **COMMON), 11030, {}),
    ("gpt2-crfm", GPT2LMHeadModel,
     GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=4, n_inner=None,
                scale_attn_by_inverse_layer_idx=True, **COMMON), None, {"same_weights_as": "gpt2"}),
    ("gpt2-flags", GPT2LMHeadModel,
     GPT2Config(vocab_size=96, n_positions=64, n_embd=32, n_layer=2, n_head=4, n_inner=48,
                activation_function="relu", layer_norm_epsilon=1e-3, scale_attn_weights=False, **COMMON), 8322, {}),
    ("pythia", GPTNeoXForCausalLM,
     GPTNeoXConfig(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                   max_position_embeddings=64, rotary_pct=0.25, rotary_emb_base=10000, hidden_act="gelu",
                   use_parallel_residual=True, tie_word_embeddings=False, layer_norm_eps=1e-5, **COMMON),
     4386, {"bf16": True, "old_pythia_bin": True}),
    ("neox-sequential", GPTNeoXForCausalLM,
     GPTNeoXConfig(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                   max_position_embeddings=64, rotary_pct=0.25, rotary_emb_base=10000, hidden_act="gelu",
                   use_parallel_residual=False, tie_word_embeddings=False, layer_norm_eps=1e-5, **COMMON), 5917, {}),
    ("gpt-neo", GPTNeoForCausalLM,
     GPTNeoConfig(vocab_size=96, max_position_embeddings=64, hidden_size=32, num_layers=2, num_heads=4,
                  intermediate_size=64, attention_types=[[["global", "local"], 1]], activation_function="gelu_new",
                  tie_word_embeddings=True, **COMMON), 7228, {}),
    ("opt", OPTForCausalLM,
     OPTConfig(vocab_size=96, hidden_size=32, num_hidden_layers=2, ffn_dim=64, num_attention_heads=4,
               max_position_embeddings=64, word_embed_proj_dim=32, do_layer_norm_before=True,
               activation_function="relu", tie_word_embeddings=True, pad_token_id=1, **COMMON),
     9780, {"sharded": "40KB"}),
    ("gptj", GPTJForCausalLM,
     GPTJConfig(vocab_size=96, n_positions=64, n_embd=32, n_layer=2, n_head=4, n_inner=64, rotary_dim=4,
                activation_function="gelu_new", tie_word_embeddings=False, **COMMON), 8468, {"bf16": True}),
]


# ----------------------------------------------------------------------------------------------------------------
# WEIGHTS: every parameter redrawn from a seeded normal
# ----------------------------------------------------------------------------------------------------------------

QKV_GAIN = 1.4      # attention input projections: logits q.k about twice as spread as with gain 1
MLP_OUT_GAIN = 1.5  # MLP output projections: MLP0's output (the hackathon W_EE) as large as the residual


def gain(owner):
    if owner.endswith(("attn.c_attn", "query_key_value", "q_proj", "k_proj", "v_proj")):
        return QKV_GAIN
    if owner.endswith(("mlp.c_proj", "dense_4h_to_h", "fc2", "fc_out")):
        return MLP_OUT_GAIN
    return 1.0


def redraw(model, seed):
    """LayerNorm weights 1 + 0.2 N, every bias 0.1 N, embeddings and untied unembeddings N, matrices
    gain * N / sqrt(fan_in) (gain: QKV_GAIN, MLP_OUT_GAIN, else 1). Drawn in named_parameters() order from
    numpy's default_rng(seed), in float64, then cast. named_parameters() lists a tied tensor once, so a tied
    unembedding stays the embedding (drawn once)."""
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        owner, kind = name.rsplit(".", 1)
        mod = model.get_submodule(owner)
        z = rng.standard_normal(tuple(p.shape))
        if isinstance(mod, nn.LayerNorm):
            val = 1 + 0.2 * z if kind == "weight" else 0.1 * z
        elif kind == "bias":
            val = 0.1 * z
        elif isinstance(mod, nn.Embedding) or mod is model.get_output_embeddings():
            val = z
        elif isinstance(mod, Conv1D):
            val = gain(owner) * z / math.sqrt(p.shape[0])               # [in, out]
        elif isinstance(mod, nn.Linear):
            val = gain(owner) * z / math.sqrt(p.shape[1])               # [out, in]
        else:
            raise ValueError(f"no rule for {name} ({type(mod).__name__})")
        with torch.no_grad():
            p.copy_(torch.from_numpy(val).to(p.dtype))
    if model.config.tie_word_embeddings:
        assert model.get_output_embeddings().weight is model.get_input_embeddings().weight


# ----------------------------------------------------------------------------------------------------------------
# REFERENCE: docs/science-spec.md in numpy float64, from the tensors as written
# ----------------------------------------------------------------------------------------------------------------

def load_folder(folder):
    """config.json and every tensor of model.safetensors (or its shards) as float64 numpy (exact widening)."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for name in files:
        for k, v in safetensors.torch.load_file(os.path.join(folder, name)).items():
            tensors[k] = v.to(torch.float64).numpy()
    return cfg, tensors


def layer_count(t, prefix):
    return 1 + max(int(k[len(prefix):].split(".")[0]) for k in t if k.startswith(prefix))


def read_weights(cfg, t):
    """The per-family reading of section 9.1. Returns a dict; per layer, lists of per-head [d, d_h] / [d_h, d] blocks.

    Q/K/V/O biases and the unembedding bias are read only for the cross-check against transformers' forward."""
    mt = cfg["model_type"]
    w = {"model_type": mt}
    layers = []
    if mt == "gpt2":
        p = "transformer." if "transformer.wte.weight" in t else ""
        E = t[p + "wte.weight"]
        V, d = E.shape
        H = cfg["n_head"]
        dh = d // H
        L = layer_count(t, p + "h.")
        scale_base = 1 / math.sqrt(dh) if cfg.get("scale_attn_weights", True) else 1.0
        inv = cfg.get("scale_attn_by_inverse_layer_idx", False)
        for l in range(L):
            q = f"{p}h.{l}."
            W, b = t[q + "attn.c_attn.weight"], t[q + "attn.c_attn.bias"]     # [d, 3d] Conv1D [in, out]: Q | K | V
            Wo = t[q + "attn.c_proj.weight"]                                  # [d, d] [in, out], rows by head
            cols = lambda i, h: slice(i * d + h * dh, i * d + (h + 1) * dh)
            layers.append(dict(
                g1=t[q + "ln_1.weight"], b1=t[q + "ln_1.bias"],
                Wq=[W[:, cols(0, h)] for h in range(H)], Wk=[W[:, cols(1, h)] for h in range(H)],
                Wv=[W[:, cols(2, h)] for h in range(H)],
                bq=[b[cols(0, h)] for h in range(H)], bk=[b[cols(1, h)] for h in range(H)],
                bv=[b[cols(2, h)] for h in range(H)],
                Wo=[Wo[h * dh:(h + 1) * dh, :] for h in range(H)], bo=t[q + "attn.c_proj.bias"],
                g2=t[q + "ln_2.weight"], b2=t[q + "ln_2.bias"],
                Win=t[q + "mlp.c_fc.weight"], bin=t[q + "mlp.c_fc.bias"],
                Wout=t[q + "mlp.c_proj.weight"], bout=t[q + "mlp.c_proj.bias"],
                scale=scale_base / ((l + 1) if inv else 1)))
        w.update(E=E, Wu=E, bu=np.zeros(V), gf=t[p + "ln_f.weight"], bf=t[p + "ln_f.bias"],
                 eps=cfg.get("layer_norm_epsilon", 1e-5), act=cfg.get("activation_function", "gelu_new"),
                 parallel=False)
    elif mt == "gpt_neox":
        p = "gpt_neox."
        E = t[p + "embed_in.weight"]
        V, d = E.shape
        H = cfg["num_attention_heads"]
        dh = d // H
        L = layer_count(t, p + "layers.")
        for l in range(L):
            q = f"{p}layers.{l}."
            W, b = t[q + "attention.query_key_value.weight"], t[q + "attention.query_key_value.bias"]  # [3d, d]
            rows = lambda i, h: slice(h * 3 * dh + i * dh, h * 3 * dh + (i + 1) * dh)  # (head, {q,k,v}, d_h)
            Wo = t[q + "attention.dense.weight"]                                # [d, d] [out, in]
            layers.append(dict(
                g1=t[q + "input_layernorm.weight"], b1=t[q + "input_layernorm.bias"],
                Wq=[W[rows(0, h)].T for h in range(H)], Wk=[W[rows(1, h)].T for h in range(H)],
                Wv=[W[rows(2, h)].T for h in range(H)],
                bq=[b[rows(0, h)] for h in range(H)], bk=[b[rows(1, h)] for h in range(H)],
                bv=[b[rows(2, h)] for h in range(H)],
                Wo=[Wo[:, h * dh:(h + 1) * dh].T for h in range(H)], bo=t[q + "attention.dense.bias"],
                g2=t[q + "post_attention_layernorm.weight"], b2=t[q + "post_attention_layernorm.bias"],
                Win=t[q + "mlp.dense_h_to_4h.weight"].T, bin=t[q + "mlp.dense_h_to_4h.bias"],
                Wout=t[q + "mlp.dense_4h_to_h.weight"].T, bout=t[q + "mlp.dense_4h_to_h.bias"],
                scale=1 / math.sqrt(dh)))
        w.update(E=E, Wu=t["embed_out.weight"], bu=np.zeros(V), gf=t[p + "final_layer_norm.weight"],
                 bf=t[p + "final_layer_norm.bias"], eps=cfg.get("layer_norm_eps", 1e-5),
                 act=cfg.get("hidden_act", "gelu"), parallel=cfg.get("use_parallel_residual", True))
    elif mt in ("gpt_neo", "opt", "gptj"):
        if mt == "gpt_neo":
            p, E_name, H = "transformer.h.", "transformer.wte.weight", cfg["num_heads"]
            att, o_name, ln1, ln2 = "attn.attention.", "attn.attention.out_proj", "ln_1", "ln_2"
            fc1, fc2, lnf = "mlp.c_fc", "mlp.c_proj", "transformer.ln_f"
            eps, act = cfg.get("layer_norm_epsilon", 1e-5), cfg.get("activation_function", "gelu_new")
        elif mt == "opt":
            if not cfg.get("do_layer_norm_before", True) or cfg.get("word_embed_proj_dim", cfg["hidden_size"]) != cfg["hidden_size"]:
                raise ValueError("post-LN OPT or project_in/out: not covered")
            p, E_name, H = "model.decoder.layers.", "model.decoder.embed_tokens.weight", cfg["num_attention_heads"]
            att, o_name, ln1, ln2 = "self_attn.", "self_attn.out_proj", "self_attn_layer_norm", "final_layer_norm"
            fc1, fc2, lnf = "fc1", "fc2", "model.decoder.final_layer_norm"
            eps, act = 1e-5, cfg.get("activation_function", "relu")
        else:
            p, E_name, H = "transformer.h.", "transformer.wte.weight", cfg["n_head"]
            att, o_name, ln1, ln2 = "attn.", "attn.out_proj", "ln_1", "ln_1"     # one ln_1 for both
            fc1, fc2, lnf = "mlp.fc_in", "mlp.fc_out", "transformer.ln_f"
            eps, act = cfg.get("layer_norm_epsilon", 1e-5), cfg.get("activation_function", "gelu_new")
        E = t[E_name]
        V, d = E.shape
        dh = d // H
        L = layer_count(t, p)
        zeros = lambda n: np.zeros(n)
        for l in range(L):
            q = f"{p}{l}."
            proj = {c: t[f"{q}{att}{c}_proj.weight"] for c in "qkv"}                # [d, d] [out, in]
            bias = {c: t.get(f"{q}{att}{c}_proj.bias", zeros(d)) for c in "qkv"}
            rows = lambda h: slice(h * dh, (h + 1) * dh)
            Wo = t[f"{q}{o_name}.weight"]
            layers.append(dict(
                g1=t[f"{q}{ln1}.weight"], b1=t[f"{q}{ln1}.bias"],
                Wq=[proj["q"][rows(h)].T for h in range(H)], Wk=[proj["k"][rows(h)].T for h in range(H)],
                Wv=[proj["v"][rows(h)].T for h in range(H)],
                bq=[bias["q"][rows(h)] for h in range(H)], bk=[bias["k"][rows(h)] for h in range(H)],
                bv=[bias["v"][rows(h)] for h in range(H)],
                Wo=[Wo[:, rows(h)].T for h in range(H)], bo=t.get(f"{q}{o_name}.bias", zeros(d)),
                g2=t[f"{q}{ln2}.weight"], b2=t[f"{q}{ln2}.bias"],
                Win=t[f"{q}{fc1}.weight"].T, bin=t[f"{q}{fc1}.bias"],
                Wout=t[f"{q}{fc2}.weight"].T, bout=t[f"{q}{fc2}.bias"],
                scale=1.0 if mt == "gpt_neo" else 1 / math.sqrt(dh)))
        Wu = t["lm_head.weight"] if "lm_head.weight" in t else E              # tied: absent from the file
        w.update(E=E, Wu=Wu, bu=t.get("lm_head.bias", np.zeros(V)), gf=t[lnf + ".weight"], bf=t[lnf + ".bias"],
                 eps=eps, act=act, parallel=(mt == "gptj"))
    else:
        raise ValueError(mt)
    w["layers"] = layers
    V, d = w["E"].shape
    w["dims"] = {"vocab": V, "d_model": d, "layers": len(layers), "heads": len(layers[0]["Wq"]),
                 "d_head": layers[0]["Wq"][0].shape[1], "d_mlp": layers[0]["Win"].shape[1]}
    return w


def cast(w, dtype):
    """The same weights in another float dtype (the float32 mirror of the robustness check)."""
    if isinstance(w, np.ndarray):
        return w.astype(dtype)
    if isinstance(w, list):
        return [cast(x, dtype) for x in w]
    if isinstance(w, dict):
        return {k: cast(v, dtype) for k, v in w.items()}
    return w


def cd(x):
    """Centre over d_model (the last axis)."""
    return x - x.mean(axis=-1, keepdims=True)


def lnpre(x, eps):
    """LayerNorm without weight and bias: population variance, eps inside the square root."""
    c = cd(x)
    return c / np.sqrt((c * c).mean(axis=-1, keepdims=True) + eps)


def activation(name, x):
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "gelu":
        return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)).astype(x.dtype))
    if name == "relu":
        return np.maximum(x, 0)
    raise ValueError(name)


def unembedding(w):
    """Section 1 / 9: U[:, t] as row t: final-norm weight folded in, centred over d, then over the vocabulary."""
    U = cd(w["Wu"] * w["gf"])
    return U - U.mean(axis=0, keepdims=True)


def effective_embedding(w):
    """Section 2 / 9: W_EE variants hackathon / full / noattn, one row per token."""
    l0, eps = w["layers"][0], w["eps"]
    E = w["E"]
    x = cd(E)                                                               # residual input, no position embedding
    xn = lnpre(E, eps) * l0["g1"]                                           # ln_1 bias dropped
    a = cd(sum(xn @ Wv @ Wo for Wv, Wo in zip(l0["Wv"], l0["Wo"])))         # identity pattern, every head, no biases

    def mlp(r):
        h = lnpre(r, eps) * l0["g2"] + l0["b2"]
        return cd(activation(w["act"], h @ l0["Win"] + l0["bin"]) @ l0["Wout"] + l0["bout"])

    if w["parallel"]:                                                       # the MLP reads norm2(x)
        m = mlp(x)
        return {"hackathon": m, "full": x + a + m, "noattn": x + m}
    m = mlp(x + a)                                                          # the MLP reads norm2(x + a)
    return {"hackathon": m, "full": x + a + m, "noattn": x + mlp(x)}


def softmax(S):
    e = np.exp(S - S.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def rank_summary(rank):
    V = len(rank)
    return {"frac_rank0": float(np.mean(rank == 0)), "frac_rank_lt10": float(np.mean(rank < 10)),
            "median_rank": float(np.sort(rank)[(V - 1) // 2]),                # lower median
            "mean_rank": float(np.mean(rank))}


def relative_gap(S):
    """min over rows t and s != t of |S[t, s] - S[t, t]| / rms(S[t, :])."""
    diff = np.abs(S - np.diag(S)[:, None])
    np.fill_diagonal(diff, np.inf)
    return float((diff.min(axis=1) / np.sqrt((S * S).mean(axis=1))).min())


def head_matrices(w, U, wee):
    """Per head (l, h): S (section 4, variant full), S_hack (section 3, variant hackathon), M (section 5, full)."""
    out = {}
    for l, layer in enumerate(w["layers"]):
        g1, s = layer["g1"], layer["scale"]
        for h in range(len(layer["Wq"])):
            Q = (U * g1) @ layer["Wq"][h]
            S = s * Q @ ((wee["full"] * g1) @ layer["Wk"][h]).T
            S_hack = s * Q @ ((wee["hackathon"] * g1) @ layer["Wk"][h]).T
            M = ((wee["full"] * g1) @ layer["Wv"][h] @ layer["Wo"][h]) @ U.T
            out[f"{l}.{h}"] = (S, S_hack, M)
    return out


def draw_names(V):
    rng = np.random.default_rng(NAME_SEED)
    return sorted(rng.choice(V, size=NAME_COUNT, replace=False).tolist())


def unembedding_bias(w):
    """Section 5 / 9: b_U = (W_U @ bf + the unembedding's own bias) minus its mean over the vocabulary."""
    b = w["Wu"] @ w["bf"] + w["bu"]
    return b - b.mean()


def copy_scores(w, U, wee, names):
    """Section 5: per head, the fraction of names whose own token is in the top 5 of lnpre(+-o_s) @ U + b_U (W_EE noattn),
    and the smallest margin |logit of the name - 5th largest other logit| / rms(logits) (a near tie could flip float32)."""
    bU = unembedding_bias(w)
    idx = np.array(names)
    out, margin = {}, math.inf
    for l, layer in enumerate(w["layers"]):
        for h in range(len(layer["Wq"])):
            o = ((wee["noattn"][idx] * layer["g1"]) @ layer["Wv"][h]) @ layer["Wo"][h]
            res = {}
            for sign, key in ((1, "copy_score"), (-1, "negative_copy_score")):
                logits = lnpre(sign * o, w["eps"]) @ U.T + bU
                own = logits[np.arange(len(idx)), idx]
                others = logits.copy()
                others[np.arange(len(idx)), idx] = -np.inf
                fifth = np.sort(others, axis=1)[:, -5]
                res[key] = float(np.mean(fifth < own))
                margin = min(margin, float((np.abs(own - fifth) / np.sqrt((logits * logits).mean(axis=1))).min()))
            out[f"{l}.{h}"] = res
    return out, bU, margin


def expected_values(fixture, w, bags):
    U = unembedding(w)
    wee = effective_embedding(w)
    names = draw_names(w["dims"]["vocab"])
    copy, bU, copy_margin = copy_scores(w, U, wee, names)
    score, fullvocab, ov = {}, {}, {}
    gap = math.inf
    for key, (S, S_hack, M) in head_matrices(w, U, wee).items():
        score[key] = float(np.mean([np.mean(np.diag(softmax(S_hack[np.ix_(b, b)]))) for b in bags]))
        rank = (S > np.diag(S)[:, None]).sum(axis=1)
        fullvocab[key] = {"mean_diag_prob": float(np.mean(np.diag(softmax(S)))), **rank_summary(rank)}
        neg = (M < np.diag(M)[:, None]).sum(axis=1)
        pos = (M > np.diag(M)[:, None]).sum(axis=1)
        ov[key] = {"negative": rank_summary(neg), "positive": rank_summary(pos)}
        gap = min(gap, relative_gap(S), relative_gap(M))
    return {
        "fixture": fixture, "model_type": w["model_type"], "dims": w["dims"],
        "eps": float(w["eps"]), "activation": w["act"], "parallel": bool(w["parallel"]),
        "scales": [float(layer["scale"]) for layer in w["layers"]],
        "u": U.tolist(),
        "wee": {k: wee[k].tolist() for k in ("hackathon", "full", "noattn")},
        "bags": [list(map(int, b)) for b in bags],
        "score": score, "fullvocab": fullvocab, "ov": ov,
        "min_relative_gap": gap,
        "bu": bU.tolist(), "names": names, "copy": copy, "copy_min_margin": copy_margin,
    }


def float32_mirror(w):
    """The same computation in float32 throughout: the largest error relative to the row rms, and whether every
    rank of sections 4 and 5 comes out the same (what a float32 implementation such as headscan's must reproduce)."""
    w32 = cast(w, np.float32)
    m64 = head_matrices(w, unembedding(w), effective_embedding(w))
    m32 = head_matrices(w32, unembedding(w32), effective_embedding(w32))
    err, same = 0.0, True
    for key in m64:
        for A, B in zip(m64[key], m32[key]):
            assert B.dtype == np.float32
            err = max(err, float((np.abs(A - B).max(axis=1) / np.sqrt((A * A).mean(axis=1))).max()))
        (S, _, M), (S32, _, M32) = m64[key], m32[key]
        same &= np.array_equal((S > np.diag(S)[:, None]).sum(1), (S32 > np.diag(S32)[:, None]).sum(1))
        same &= np.array_equal((M < np.diag(M)[:, None]).sum(1), (M32 < np.diag(M32)[:, None]).sum(1))
        same &= np.array_equal((M > np.diag(M)[:, None]).sum(1), (M32 > np.diag(M32)[:, None]).sum(1))
    return err, same


# ----------------------------------------------------------------------------------------------------------------
# CROSS-CHECK: the reference's reading of the tensors against transformers' own forward pass
# ----------------------------------------------------------------------------------------------------------------

def blocks_and_final_norm(model):
    mt = model.config.model_type
    if mt == "gpt_neox":
        return model.gpt_neox.layers, model.gpt_neox.final_layer_norm
    if mt == "opt":
        return model.model.decoder.layers, model.model.decoder.final_layer_norm
    return model.transformer.h, model.transformer.ln_f


def close(name, ref, got, tol=2e-5):
    err = np.abs(ref - got).max() / max(1.0, np.abs(ref).max())
    assert err < tol, f"cross-check {name}: relative error {err}"
    return err


def crosscheck_hf(model, w):
    """Runs the HF model (float32, eager attention) on 12 tokens all at position 0 (rotary: identity) and recomputes,
    from the reference's head slices with every bias, each head's attention pattern, each block's attention output and
    output, and the logits."""
    model.eval()
    model.set_attn_implementation("eager")
    blocks, final_norm = blocks_and_final_norm(model)
    n = 12
    ids = torch.from_numpy(np.random.default_rng(7).integers(0, w["dims"]["vocab"], size=(1, n)))
    seen = {}

    def pre(name):
        def hook(mod, args, kwargs):
            seen[name] = (args[0] if args else kwargs["hidden_states"]).detach()
        return hook

    def post(name):
        def hook(mod, args, out):
            seen[name] = (out[0] if isinstance(out, tuple) else out).detach()
        return hook

    handles = []
    for l, block in enumerate(blocks):
        handles.append(block.register_forward_pre_hook(pre(f"in{l}"), with_kwargs=True))
        handles.append(block.register_forward_hook(post(f"out{l}")))
        attn = block.attention if hasattr(block, "attention") else (block.self_attn if hasattr(block, "self_attn") else block.attn)
        handles.append(attn.register_forward_hook(post(f"attn{l}")))
    handles.append(final_norm.register_forward_pre_hook(pre("final"), with_kwargs=True))
    with torch.no_grad():
        out = model(input_ids=ids, position_ids=torch.zeros_like(ids), output_attentions=True)
    for hd in handles:
        hd.remove()
    np64 = lambda x: x[0].to(torch.float64).numpy()
    eps = w["eps"]
    mask = np.tril(np.ones((n, n), dtype=bool))
    for l, layer in enumerate(w["layers"]):
        x = np64(seen[f"in{l}"])
        h1 = lnpre(x, eps) * layer["g1"] + layer["b1"]
        attn = np.array(layer["bo"])
        for h in range(len(layer["Wq"])):
            q = h1 @ layer["Wq"][h] + layer["bq"][h]
            k = h1 @ layer["Wk"][h] + layer["bk"][h]
            v = h1 @ layer["Wv"][h] + layer["bv"][h]
            P = softmax(np.where(mask, layer["scale"] * q @ k.T, -np.inf))
            close(f"pattern {l}.{h}", P, out.attentions[l][0, h].to(torch.float64).numpy())
            attn = attn + P @ v @ layer["Wo"][h]
        close(f"attention output {l}", attn, np64(seen[f"attn{l}"]))

        def mlp(r):
            hh = lnpre(r, eps) * layer["g2"] + layer["b2"]
            return activation(w["act"], hh @ layer["Win"] + layer["bin"]) @ layer["Wout"] + layer["bout"]

        y = x + attn + mlp(x) if w["parallel"] else (x + attn) + mlp(x + attn)
        close(f"block output {l}", y, np64(seen[f"out{l}"]))
    xf = np64(seen["final"])
    logits = (lnpre(xf, eps) * w["gf"] + w["bf"]) @ w["Wu"].T + w["bu"]
    close("logits", logits, np64(out.logits))


def same_model(a, b):
    """b (read back by transformers from a written folder) holds exactly a's tensors and gives a's logits."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    b.set_attn_implementation(a.config._attn_implementation)
    ids = torch.arange(10).view(1, 10)
    with torch.no_grad():
        assert torch.equal(a(input_ids=ids).logits, b(input_ids=ids).logits)


# ----------------------------------------------------------------------------------------------------------------
# WRITING
# ----------------------------------------------------------------------------------------------------------------

def dump_json(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f, indent=None, separators=(",", ":"), allow_nan=False)
        f.write("\n")


def draw_bags(V):
    rng = np.random.default_rng(BAG_SEED)
    return [sorted(rng.choice(V, size=BAG_SIZE, replace=False).tolist()) for _ in range(BAG_COUNT)]


def reference_from_folder(name, folder, bags):
    cfg, t = load_folder(folder)
    w = read_weights(cfg, t)
    return w, expected_values(name, w, bags)


def old_pythia_state_dict(t, cfg):
    """The tensors in module order with the buffers old Pythia checkpoints carried in every layer."""
    sd = {}
    n = cfg.max_position_embeddings
    dh = cfg.hidden_size // cfg.num_attention_heads
    rot = int(dh * cfg.rope_parameters["partial_rotary_factor"])
    base = cfg.rope_parameters["rope_theta"]
    inv_freq = (1.0 / base ** (torch.arange(0, rot, 2, dtype=torch.int64).float() / rot)).to(torch.float32)
    L = cfg.num_hidden_layers
    order = ["gpt_neox.embed_in.weight"]
    for l in range(L):
        p = f"gpt_neox.layers.{l}."
        order += [p + s for s in ("input_layernorm.weight", "input_layernorm.bias", "post_attention_layernorm.weight",
                                  "post_attention_layernorm.bias", "attention.bias", "attention.masked_bias",
                                  "attention.rotary_emb.inv_freq", "attention.query_key_value.weight",
                                  "attention.query_key_value.bias", "attention.dense.weight", "attention.dense.bias",
                                  "mlp.dense_h_to_4h.weight", "mlp.dense_h_to_4h.bias", "mlp.dense_4h_to_h.weight",
                                  "mlp.dense_4h_to_h.bias")]
    order += ["gpt_neox.final_layer_norm.weight", "gpt_neox.final_layer_norm.bias", "embed_out.weight"]
    for k in order:
        if k.endswith("attention.bias"):
            sd[k] = torch.tril(torch.ones(n, n, dtype=torch.bool)).view(1, 1, n, n)
        elif k.endswith("attention.masked_bias"):
            sd[k] = torch.tensor(-1e9)
        elif k.endswith("rotary_emb.inv_freq"):
            sd[k] = inv_freq.clone()
        else:
            sd[k] = t.pop(k)
    assert not t, f"left over: {list(t)}"
    return sd


def old_pythia_config(cfg):
    """config.json in the layout of the Pythia checkpoints (pre-transformers-5 keys: rotary_pct, torch_dtype)."""
    return {"architectures": ["GPTNeoXForCausalLM"], "bos_token_id": cfg.bos_token_id, "eos_token_id": cfg.eos_token_id,
            "hidden_act": cfg.hidden_act, "hidden_size": cfg.hidden_size, "initializer_range": cfg.initializer_range,
            "intermediate_size": cfg.intermediate_size, "layer_norm_eps": cfg.layer_norm_eps,
            "max_position_embeddings": cfg.max_position_embeddings, "model_type": "gpt_neox",
            "num_attention_heads": cfg.num_attention_heads, "num_hidden_layers": cfg.num_hidden_layers,
            "rotary_emb_base": int(cfg.rope_parameters["rope_theta"]),
            "rotary_pct": cfg.rope_parameters["partial_rotary_factor"], "tie_word_embeddings": False,
            "torch_dtype": "float32", "use_cache": True, "use_parallel_residual": cfg.use_parallel_residual,
            "vocab_size": cfg.vocab_size}


def write_bin(model, folder, cls, extras):
    """bin/: pytorch_model.bin holding exactly the tensors of model.safetensors (names as written), + config.json."""
    os.makedirs(folder, exist_ok=True)
    src = os.path.dirname(folder)
    t = safetensors.torch.load_file(os.path.join(src, "model.safetensors"))
    if extras.get("old_pythia_bin"):
        sd = old_pythia_state_dict(t, model.config)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(old_pythia_config(model.config), f, indent=2)
            f.write("\n")
    else:
        order = [k for k in model.state_dict() if k in t] + sorted(k for k in t if k not in model.state_dict())
        sd = {k: t[k].clone() for k in order}
        shutil.copy(os.path.join(src, "config.json"), os.path.join(folder, "config.json"))
    torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
    # transformers reads it back to the same model
    back = cls.from_pretrained(folder).eval()
    assert back.config.model_type == model.config.model_type
    same_model(model, back)


def save_model(model, folder, **kw):
    model.save_pretrained(folder, **kw)
    gen = os.path.join(folder, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)


def build(cls, config, seed):
    torch.manual_seed(0)
    model = cls(config)
    redraw(model, seed)
    return model.eval()


def tensors_as_written(model, dtype=None):
    """model.state_dict() under the names save_pretrained writes (for the seed search only; the written files are
    checked again): a tied unembedding is left out, GPT-NeoX's lm_head is written as embed_out."""
    out = {}
    tied = model.config.tie_word_embeddings
    for k, v in model.state_dict().items():
        if k == "lm_head.weight" and tied:
            continue
        if model.config.model_type == "gpt_neox" and k == "lm_head.weight":
            k = "embed_out.weight"
        out[k] = (v.to(dtype) if dtype else v).to(torch.float64).numpy()
    return out


def min_gap(cfg, t):
    w = read_weights(cfg, t)
    gap = math.inf
    for S, _, M in head_matrices(w, unembedding(w), effective_embedding(w)).values():
        gap = min(gap, relative_gap(S), relative_gap(M))
    return gap


def search_seed(name, cls, config, first, extras):
    """The first seed from `first` upwards whose fixture (and its bf16 copy) has no near-tie: min gap >= threshold."""
    model = build(cls, config, first)
    with tempfile.TemporaryDirectory() as tmp:
        model.config.to_json_file(os.path.join(tmp, "config.json"))
        with open(os.path.join(tmp, "config.json")) as f:
            cfg = json.load(f)
    threshold = GAP_THRESHOLD_BF16 if extras.get("bf16") else GAP_THRESHOLD
    for seed in range(first, first + MAX_SEED_TRIES):
        redraw(model, seed)
        gap = min_gap(cfg, tensors_as_written(model))
        if gap >= threshold and extras.get("bf16"):
            gap = min(gap, min_gap(cfg, tensors_as_written(model, torch.bfloat16)))
        if gap >= threshold:
            return seed, seed - first
    raise RuntimeError(f"{name}: no seed in {MAX_SEED_TRIES} tries")


def main():
    seeds = {}
    for name, cls, config, first, extras in FIXTURES:
        folder = os.path.join(HERE, name)
        if os.path.exists(folder):
            shutil.rmtree(folder)
        bags = draw_bags(config.vocab_size)
        if "same_weights_as" in extras:
            seed, tries = seeds[extras["same_weights_as"]], 0
        else:
            seed, tries = search_seed(name, cls, config, first, extras)
        seeds[name] = seed
        model = build(cls, config, seed)
        save_model(model, folder)
        w, exp = reference_from_folder(name, folder, bags)
        assert exp["min_relative_gap"] >= (GAP_THRESHOLD_BF16 if extras.get("bf16") else GAP_THRESHOLD)
        crosscheck_hf(model, w)
        err32, same32 = float32_mirror(w)
        assert same32, f"{name}: a float32 recomputation changes a rank"
        dump_json(exp, os.path.join(folder, "expected.json"))
        write_bin(model, os.path.join(folder, "bin"), cls, extras)
        line = (f"{name}: seed {seed} (after {tries} rejected), V={exp['dims']['vocab']}, "
                f"min relative gap {exp['min_relative_gap']:.3g}, float32 error {err32:.2g}")
        if extras.get("sharded"):
            sub = os.path.join(folder, "sharded")
            save_model(model, sub, max_shard_size=extras["sharded"])
            shards = [f for f in os.listdir(sub) if f.endswith(".safetensors")]
            assert len(shards) >= 2 and os.path.exists(os.path.join(sub, "model.safetensors.index.json")), shards
            assert reference_from_folder(name, sub, bags)[1] == exp
            same_model(model, cls.from_pretrained(sub).eval())
            line += f", {len(shards)} shards"
        if extras.get("bf16"):
            sub = os.path.join(folder, "bf16")
            save_model(build(cls, config, seed).to(torch.bfloat16), sub)
            w16, exp16 = reference_from_folder(name, sub, bags)
            err16, same16 = float32_mirror(w16)
            assert same16, f"{name} bf16: a float32 recomputation changes a rank"
            assert exp16["min_relative_gap"] >= GAP_THRESHOLD_BF16
            dump_json(exp16, os.path.join(sub, "expected.json"))
            line += f"; bf16: min relative gap {exp16['min_relative_gap']:.3g}, float32 error {err16:.2g}"
        if name == "gpt2-crfm":                                       # same weights, temperature 1/(l+1)
            _, t0 = load_folder(os.path.join(HERE, "gpt2"))
            _, t1 = load_folder(folder)
            assert t0.keys() == t1.keys() and all(np.array_equal(t0[k], t1[k]) for k in t0)
            with open(os.path.join(HERE, "gpt2", "expected.json")) as f:
                e0 = json.load(f)
            assert exp["scales"] == [s / (l + 1) for l, s in enumerate(e0["scales"])]
            assert exp["u"] == e0["u"] and exp["wee"] == e0["wee"] and exp["ov"] == e0["ov"]
            assert all(exp["fullvocab"][k][r] == e0["fullvocab"][k][r] for k in e0["fullvocab"]
                       for r in ("frac_rank0", "frac_rank_lt10", "median_rank", "mean_rank"))
        print(line)


def expected_only():
    """Recomputes every expected.json from the checkpoints already written (no new weights): for a change of the
    reference alone. Fields already there must come out the same."""
    for name, cls, config, first, extras in FIXTURES:
        folder = os.path.join(HERE, name)
        for sub in [folder] + [os.path.join(folder, "bf16")] * bool(extras.get("bf16")):
            path = os.path.join(sub, "expected.json")
            with open(path) as f:
                old = json.load(f)
            _, exp = reference_from_folder(name, sub, old["bags"])
            changed = [k for k in old if old[k] != exp[k]]
            assert not changed, f"{sub}: {changed} changed"
            dump_json(exp, path)
            print(f"{os.path.relpath(sub, HERE)}: copy scores of {len(exp['copy'])} heads, min margin {exp['copy_min_margin']:.3g}")


if __name__ == "__main__":
    import sys
    expected_only() if "--expected-only" in sys.argv else main()
