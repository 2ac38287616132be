"""numpy and PyTorch peers of headscan for GPT-NeoX (Pythia) checkpoints: the same score, embed and fullvocab as
gpt2peer.py (whose code they run), on the gpt_neox layout of docs/science.md §9 and §9.1, read from the raw Hugging
Face tensors the way a careful researcher would: the file memory-mapped, F16/BF16 tensors widened to float32 where
they are used (whole small tensors once; embed_in and embed_out row by row, in chunks), float32 BLAS throughout.

The GPT-NeoX definition (docs/science.md §9), in raw tensors:
- U[:, t] = cd(gf * embed_out[t]) minus its mean over the vocabulary (final_layer_norm weight folded, centred over d
  and over V; no final-norm bias).
- W_EE[t], block 0 on token t alone, parallel residual (the MLP reads norm2 of the block input, not x + a):
  x = cd(embed_in[t]); a = cd((lnpre(x) * g1_0) @ W_V^T @ W_O^T) (every attention bias and the ln_1 bias dropped);
  m = cd(gelu_erf((lnpre(x) * g2_0 + b2_0) @ W_in^T + b_in) @ W_out^T + b_out); hackathon = m, full = x + a + m.
- query_key_value.weight is a Linear [3d, d] whose rows are ordered (head, {q, k, v}, d_h): head h's W_Q is rows
  h*3*d_h .. h*3*d_h + d_h, its W_K the next d_h rows, W_V the next; used as x @ W.T. Scale 1/sqrt(d_h); rotary is
  the identity at relative offset 0 and is left out.

Usage: python3 neoxpeer.py {numpy|torch} {score|embed|fullvocab} MODEL_DIR [--heads 10.7,11.10] [--out FILE]
"""
import math
import sys

import gpt2peer
from gpt2peer import np, cd, lnpre

def load(model_dir):
    """Memory-maps model.safetensors (no copy): name without the gpt_neox. prefix -> array view in the file's dtype."""
    out, cfg = gpt2peer.mmap_safetensors(model_dir, "gpt_neox.")
    if cfg.get("model_type") != "gpt_neox":
        sys.exit(f"neoxpeer: {model_dir}: model_type {cfg.get('model_type')!r}, not gpt_neox")
    if not cfg.get("use_parallel_residual", True):
        sys.exit("neoxpeer: use_parallel_residual false (a sequential block) is not what this peer computes")
    if cfg.get("hidden_act", "gelu") != "gelu":
        sys.exit(f"neoxpeer: hidden_act {cfg['hidden_act']!r}: this peer computes the erf GELU only")
    return out, cfg


def f32(a):
    """float32 copy of (part of) a tensor: F16 widened; BF16 is the top half of a float32."""
    if a.dtype == np.uint16:
        return (a.astype(np.uint32) << 16).view(np.float32)
    return np.asarray(a, dtype=np.float32)


def gelu_erf(x):
    from scipy.special import erf
    return 0.5 * x * (1 + erf(x * np.float32(1 / math.sqrt(2))))


class NeoxNumpyOps(gpt2peer.NumpyOps):
    name = "numpy"

    def __init__(self, w, cfg):
        self.w = w
        self.cfg = cfg
        self.H = cfg["num_attention_heads"]
        self.eps = cfg.get("layer_norm_eps", 1e-5)
        self.V, self.d = w["embed_in.weight"].shape
        self.dh = self.d // self.H
        self.n_layers = sum(1 for k in w if k.endswith(".input_layernorm.weight"))
        self._f32 = {}
        self._vocab_mean = None

    def arr(self, name):
        """A whole tensor widened to float32, once (layer weights, norms, biases)."""
        a = self._f32.get(name)
        if a is None:
            a = self._f32[name] = f32(self.w[name])
        return a

    def ln1(self, l):
        return self.arr(f"layers.{l}.input_layernorm.weight")

    def _qkv(self, l, which):
        """[d, d] = (W_Q or W_K of all heads, as x @ W): rows (head, which) of the fused Linear, transposed."""
        W = self.arr(f"layers.{l}.attention.query_key_value.weight").reshape(self.H, 3, self.dh, self.d)
        return W[:, which].reshape(self.d, self.d).T

    def wq(self, l):
        return self._qkv(l, 0)

    def wk(self, l):
        return self._qkv(l, 1)

    def _head(self, l, h, which, dh):
        W = self.arr(f"layers.{l}.attention.query_key_value.weight")
        s = h * 3 * dh + which * dh
        return np.ascontiguousarray(W[s:s + dh].T)  # [d, d_h]

    def wq_head(self, l, h, dh):
        return self._head(l, h, 0, dh)

    def wk_head(self, l, h, dh):
        return self._head(l, h, 1, dh)

    def unembedding_rows(self, tokens):
        """U[:, t]^T for the given tokens (docs/science.md §9: embed_out, final-norm weight folded, centred), [n, d]."""
        E = self.w["embed_out.weight"]
        gf = self.arr("final_layer_norm.weight")
        if self._vocab_mean is None:
            # F16/F32: numpy sums them in float64 directly; BF16 (raw uint16 here) is widened first
            mean = (f32(E) if E.dtype == np.uint16 else E).mean(0, dtype=np.float64)
            vocab_mean = gf * mean.astype(np.float32)
            self._vocab_mean = vocab_mean - vocab_mean.mean()
        x = gf * f32(E[tokens])
        return cd(x) - self._vocab_mean

    def wee(self, tokens, variant):
        """W_EE rows (docs/science.md §9: block 0 of the processed model, parallel residual), [n, d]."""
        x = cd(f32(self.w["embed_in.weight"][tokens]))
        # the MLP reads norm2 of the block input (parallel block): hackathon does not need the attention at all
        y = lnpre(x, self.eps) * self.arr("layers.0.post_attention_layernorm.weight") \
            + self.arr("layers.0.post_attention_layernorm.bias")
        h = gelu_erf(y @ self.arr("layers.0.mlp.dense_h_to_4h.weight").T + self.arr("layers.0.mlp.dense_h_to_4h.bias"))
        m = cd(h @ self.arr("layers.0.mlp.dense_4h_to_h.weight").T + self.arr("layers.0.mlp.dense_4h_to_h.bias"))
        if variant == "hackathon":
            return m
        if variant == "noattn":
            return x + m
        W = self.arr("layers.0.attention.query_key_value.weight").reshape(self.H, 3, self.dh, self.d)
        Wv = W[:, 2].reshape(self.d, self.d)  # [H * d_h, d], heads in order: dense's input order
        v = (lnpre(x, self.eps) * self.arr("layers.0.input_layernorm.weight")) @ Wv.T
        a = cd(v @ self.arr("layers.0.attention.dense.weight").T)
        return x + a + m


class NeoxTorchOps(NeoxNumpyOps):
    """As gpt2peer.TorchOps: the per-layer projections, softmaxes and score tiles in torch, W_EE and U as numpy."""
    name = "torch"

    def __init__(self, w, cfg):
        import torch
        self.torch = torch
        super().__init__(w, cfg)

    def t(self, a):
        return self.torch.from_numpy(np.ascontiguousarray(a))


def open_model(lib, model_dir):
    w, cfg = load(model_dir)
    ops = NeoxTorchOps(w, cfg) if lib == "torch" else NeoxNumpyOps(w, cfg)
    return ops, cfg["num_attention_heads"]


if __name__ == "__main__":
    gpt2peer.main(sys.argv, open_model)
