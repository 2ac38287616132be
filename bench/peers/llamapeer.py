"""numpy and PyTorch peers of headscan's `score` for Llama-layout checkpoints (model_type llama or mistral), as a careful
researcher would write them: the weights file memory-mapped, BF16/F16 tensors upcast to float32 one layer at a time
(numpy: the raw 16-bit words widened by hand; PyTorch: safetensors' own loader and `.float()`), float32 BLAS for
every product, nothing of the model held beyond the layer in use.

The definition (docs/science.md §9, RMSNorm families), in raw tensors:
- rms(x) = x / sqrt(mean(x^2) + eps), eps = rms_norm_eps.
- U[:, t] = gf * lm_head[t] minus its mean over the vocabulary (final-norm weight folded; not centred over d).
- W_EE[t] (hackathon) = block 0 on token t alone: x = embed[t]; a = (rms(x) * g1_0) @ W_V^T (each key/value head's
  values, shared by its query heads) @ W_O^T; m = down(silu(gate(y)) * up(y)) with y = rms(x + a) * g2_0. hackathon = m.
- Per layer: q = (U * g1) @ W_Q^T, k = (W_EE * g1) @ W_K^T, head h reads key/value head h // (H / H_kv); logits scaled
  by 1/sqrt(d_head); rotary is the identity at relative offset 0 and is left out.
- Score of a head: mean over bags and positions of the softmax diagonal (docs/science.md §3).

Usage: python3 llamapeer.py {numpy|torch} score MODEL_DIR --bags-from HEADSCAN_JSON
Prints one JSON line: the scores [L][H] and timings.
"""
import json
import math
import struct
import sys
import time

T0 = time.perf_counter()
import numpy as np  # noqa: E402

DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2"}


def shards(model_dir):
    """{tensor name: file} for model.safetensors or a sharded index."""
    import os
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            return {k: os.path.join(model_dir, v) for k, v in json.load(f)["weight_map"].items()}
    path = os.path.join(model_dir, "model.safetensors")
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return {k: path for k in header if k != "__metadata__"}


class NumpyWeights:
    """Memory-mapped tensors in their stored dtype; f32(name) widens one of them."""

    def __init__(self, model_dir):
        self.files = shards(model_dir)
        self.views = {}
        for path in set(self.files.values()):
            with open(path, "rb") as f:
                n = struct.unpack("<Q", f.read(8))[0]
                header = json.loads(f.read(n))
            raw = np.memmap(path, dtype=np.uint8, mode="r")
            for name, t in header.items():
                if name == "__metadata__":
                    continue
                b, e = t["data_offsets"]
                self.views[name] = raw[8 + n + b: 8 + n + e].view(DTYPES[t["dtype"]]).reshape(t["shape"])

    def raw(self, name):
        return self.views[name]

    def f32(self, name, rows=None):
        a = self.views[name] if rows is None else self.views[name][rows]
        if a.dtype == np.uint16:   # BF16: the upper half of a float32
            return (a.astype(np.uint32) << 16).view(np.float32)
        return np.asarray(a, dtype=np.float32)


class TorchWeights:
    """safetensors' PyTorch loader: each tensor read in its stored dtype, upcast with .float() where it is used."""

    def __init__(self, model_dir):
        import torch
        from safetensors import safe_open
        self.torch = torch
        self.files = shards(model_dir)
        self.handles = {p: safe_open(p, framework="pt") for p in set(self.files.values())}

    def f32(self, name, rows=None):
        h = self.handles[self.files[name]]
        if rows is None:
            return h.get_tensor(name).float()
        sl = h.get_slice(name)
        if isinstance(rows, slice):
            return sl[rows].float()
        return self.torch.stack([sl[int(r)] for r in rows]).float()


def rms(x, eps, lib):
    if lib == "torch":
        return x * (x.pow(2).mean(-1, keepdim=True) + eps).rsqrt()
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)


def silu(x, lib):
    if lib == "torch":
        import torch
        return torch.nn.functional.silu(x)
    return x / (1 + np.exp(-x))


def score(lib, model_dir, bags):
    with open(model_dir + "/config.json") as f:
        cfg = json.load(f)
    if cfg.get("model_type") not in ("llama", "mistral"):
        sys.exit(f"llamapeer: model_type {cfg.get('model_type')!r}: this peer computes llama and mistral")
    H = cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    L = cfg["num_hidden_layers"]
    d = cfg["hidden_size"]
    dh = cfg.get("head_dim") or d // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    w = TorchWeights(model_dir) if lib == "torch" else NumpyWeights(model_dir)
    tied = "lm_head.weight" not in w.files
    unembed = "model.embed_tokens.weight" if tied else "lm_head.weight"
    p = "model.layers."
    tokens = np.unique(np.concatenate(bags))
    index = {t: i for i, t in enumerate(tokens)}
    rows = np.array([[index[t] for t in bag] for bag in bags])
    group = H // Hkv
    t_start = time.perf_counter()

    # U rows of the bag tokens, centred over the vocabulary (the mean reads all of lm_head once, a chunk at a time)
    gf = w.f32("model.norm.weight")
    V = w.raw(unembed).shape[0] if lib == "numpy" else w.handles[w.files[unembed]].get_slice(unembed).get_shape()[0]
    total = np.zeros(d, dtype=np.float64)
    chunk = 4096
    for r0 in range(0, V, chunk):
        part = w.f32(unembed, slice(r0, min(V, r0 + chunk)))
        total += part.double().sum(0).numpy() if lib == "torch" else part.sum(0, dtype=np.float64)
    mean = total / V
    if lib == "torch":
        torch = w.torch
        U = gf * w.f32(unembed, tokens) - gf * torch.from_numpy(mean.astype(np.float32))
        E = w.f32("model.embed_tokens.weight", tokens)
        g1 = w.f32(p + "0.input_layernorm.weight")
        Wv, Wo = w.f32(p + "0.self_attn.v_proj.weight"), w.f32(p + "0.self_attn.o_proj.weight")
        v = (rms(E, eps, lib) * g1) @ Wv.T                                     # [n, Hkv*dh]
        v = v.reshape(len(tokens), Hkv, dh).repeat_interleave(group, dim=1).reshape(len(tokens), H * dh)
        a = v @ Wo.T
        y = rms(E + a, eps, lib) * w.f32(p + "0.post_attention_layernorm.weight")
        m = (silu(y @ w.f32(p + "0.mlp.gate_proj.weight").T, lib) * (y @ w.f32(p + "0.mlp.up_proj.weight").T)) \
            @ w.f32(p + "0.mlp.down_proj.weight").T
        K0 = m
        r = torch.from_numpy(rows)
    else:
        U = gf * w.f32(unembed, tokens) - (gf * mean.astype(np.float32))
        E = w.f32("model.embed_tokens.weight", tokens)
        g1 = w.f32(p + "0.input_layernorm.weight")
        Wv, Wo = w.f32(p + "0.self_attn.v_proj.weight"), w.f32(p + "0.self_attn.o_proj.weight")
        v = (rms(E, eps, lib) * g1) @ Wv.T
        v = np.repeat(v.reshape(len(tokens), Hkv, dh), group, axis=1).reshape(len(tokens), H * dh)
        a = v @ Wo.T
        y = rms(E + a, eps, lib) * w.f32(p + "0.post_attention_layernorm.weight")
        m = (silu(y @ w.f32(p + "0.mlp.gate_proj.weight").T, lib) * (y @ w.f32(p + "0.mlp.up_proj.weight").T)) \
            @ w.f32(p + "0.mlp.down_proj.weight").T
        K0 = m
    t_wee = time.perf_counter() - t_start

    out = np.zeros((L, H))
    nb = len(bags)
    for l in range(L):
        g1 = w.f32(p + f"{l}.input_layernorm.weight")
        Wq = w.f32(p + f"{l}.self_attn.q_proj.weight")   # this layer's weights upcast, then dropped
        Wk = w.f32(p + f"{l}.self_attn.k_proj.weight")
        Q = (U * g1) @ Wq.T
        K = (K0 * g1) @ Wk.T
        del Wq, Wk
        if lib == "torch":
            q = Q[r].reshape(nb, -1, H, dh).transpose(1, 2)
            k = K[r].reshape(nb, -1, Hkv, dh).transpose(1, 2).repeat_interleave(group, dim=1)
            pr = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
            out[l] = torch.diagonal(pr, dim1=-2, dim2=-1).mean(dim=(0, 2)).numpy()
        else:
            q = Q[rows].reshape(nb, -1, H, dh).transpose(0, 2, 1, 3)
            k = np.repeat(K[rows].reshape(nb, -1, Hkv, dh).transpose(0, 2, 1, 3), group, axis=1)
            s = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(dh))
            s -= s.max(-1, keepdims=True)
            e = np.exp(s)
            e /= e.sum(-1, keepdims=True)
            out[l] = np.diagonal(e, axis1=2, axis2=3).mean(axis=(0, 2))
    return out, t_wee


def main(argv):
    lib, what, model = argv[1], argv[2], argv[3]
    if what != "score" or "--bags-from" not in argv:
        sys.exit("usage: llamapeer.py {numpy|torch} score MODEL_DIR --bags-from HEADSCAN_JSON")
    with open(argv[argv.index("--bags-from") + 1]) as f:
        bags = [np.array(b) for b in json.load(f)["bags"]["ids"]]
    t_import = time.perf_counter() - T0
    t0 = time.perf_counter()
    if lib == "torch":
        import torch
        with torch.no_grad():
            scores, t_wee = score(lib, model, bags)
    else:
        scores, t_wee = score(lib, model, bags)
    print(json.dumps({"peer": lib, "what": what, "t_import": t_import, "t_wee": t_wee,
                      "t_compute": time.perf_counter() - t0, "scores": scores.tolist()}))


if __name__ == "__main__":
    main(sys.argv)
