"""Peer implementations of headscan's science (docs/science.md §1-§4) in numpy and PyTorch, written the way a
competent researcher would: vectorised, chunked over the vocabulary, float32 BLAS. Used by bench/run to time
headscan against them on the same checkpoint and to check that the numbers agree.

Usage: python3 gpt2peer.py {numpy|torch} {score|embed|fullvocab} MODEL_DIR [--heads 10.7,11.10] [--out FILE]
Prints one JSON object: results and timings (seconds, process start excluded: see "t_import").

score, embed and fullvocab read the checkpoint only through the ops object (NumpyOps here: GPT-2's tensor names and
Conv1D [in, out] layout), so neoxpeer.py reuses them for GPT-NeoX with its own ops.
"""
import json
import math
import struct
import sys
import time

T0 = time.perf_counter()
import numpy as np  # noqa: E402

D_HEAD = 64


SAFETENSORS_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2"}   # BF16 as its raw bits: widened where used


def mmap_safetensors(model_dir, prefix):
    """Memory-maps model.safetensors (no copy): name without `prefix` -> array view in the file's dtype; and config.json."""
    path = model_dir + "/model.safetensors"
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        out[name.removeprefix(prefix)] = raw[base + b: base + e].view(SAFETENSORS_DTYPES[t["dtype"]]).reshape(t["shape"])
    with open(model_dir + "/config.json") as f:
        cfg = json.load(f)
    return out, cfg


def load(model_dir):
    """GPT-2's tensors as float32 views of the mapping (an F32 checkpoint, as synth writes), and its head count."""
    out, cfg = mmap_safetensors(model_dir, "transformer.")
    return out, cfg["n_head"]


def cd(x):
    return x - x.mean(-1, keepdims=True)


def lnpre(x, eps=1e-5):
    c = cd(x)
    return c / np.sqrt((c * c).mean(-1, keepdims=True) + eps)


def gelu_new(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


class NumpyOps:
    name = "numpy"

    def __init__(self, w):
        self.w = w
        self.V, self.d = w["wte.weight"].shape
        self.n_layers = sum(1 for k in w if k.endswith(".ln_1.weight"))

    def arr(self, name):
        return np.asarray(self.w[name], dtype=np.float32)

    # the layout: layer l's pre-attention norm weight, and its W_Q / W_K as [d, d] and per head [d, d_h] (x @ W)
    def ln1(self, l):
        return self.arr(f"h.{l}.ln_1.weight")

    def wq(self, l):
        return self.w[f"h.{l}.attn.c_attn.weight"][:, 0:self.d]

    def wk(self, l):
        return self.w[f"h.{l}.attn.c_attn.weight"][:, self.d:2 * self.d]

    def wq_head(self, l, h, dh):
        return np.ascontiguousarray(self.w[f"h.{l}.attn.c_attn.weight"][:, h * dh:(h + 1) * dh])

    def wk_head(self, l, h, dh):
        return np.ascontiguousarray(self.w[f"h.{l}.attn.c_attn.weight"][:, self.d + h * dh:self.d + (h + 1) * dh])

    def unembedding_rows(self, tokens):
        """U[:, t]^T for the given tokens (docs/science.md §1), [n, d]."""
        E = self.w["wte.weight"]
        gf = self.arr("ln_f.weight")
        vocab_mean = gf * E.mean(0, dtype=np.float64).astype(np.float32)
        vocab_mean -= vocab_mean.mean()
        x = gf * np.asarray(E[tokens])
        return cd(x) - vocab_mean

    def wee(self, tokens, variant):
        """W_EE rows (docs/science.md §2), [n, d]."""
        w = self.w
        E = np.asarray(w["wte.weight"][tokens])
        d = E.shape[1]
        ce = cd(E)
        if variant == "noattn":
            r = ce
        else:
            x = lnpre(E) * self.arr("h.0.ln_1.weight")
            v = x @ w["h.0.attn.c_attn.weight"][:, 2 * d:3 * d]
            r = ce + cd(v @ w["h.0.attn.c_proj.weight"])
        y = lnpre(r) * self.arr("h.0.ln_2.weight") + self.arr("h.0.ln_2.bias")
        h = gelu_new(y @ w["h.0.mlp.c_fc.weight"] + self.arr("h.0.mlp.c_fc.bias"))
        mlp = cd(h @ w["h.0.mlp.c_proj.weight"] + self.arr("h.0.mlp.c_proj.bias"))
        return mlp if variant == "hackathon" else r + mlp


class TorchOps(NumpyOps):
    name = "torch"

    def __init__(self, w):
        import torch
        self.torch = torch
        super().__init__(w)

    def t(self, a):
        return self.torch.from_numpy(np.ascontiguousarray(a))


def score(ops, n_head, bags, variant="hackathon"):
    """Prediction-Attention score (docs/science.md §3) of every head: [L, H]."""
    L = ops.n_layers
    d = ops.d
    dh = d // n_head
    tokens = np.unique(np.concatenate(bags))
    index = {t: i for i, t in enumerate(tokens)}
    U = ops.unembedding_rows(tokens)
    K0 = ops.wee(tokens, variant)
    rows = np.array([[index[t] for t in bag] for bag in bags])
    out = np.zeros((L, n_head))
    torch = getattr(ops, "torch", None)
    for l in range(L):
        g1 = ops.ln1(l)
        if torch is None:
            Q = (U * g1) @ ops.wq(l)
            K = (K0 * g1) @ ops.wk(l)
            q = Q[rows].reshape(len(bags), -1, n_head, dh).transpose(0, 2, 1, 3)   # [bags, H, B, dh]
            k = K[rows].reshape(len(bags), -1, n_head, dh).transpose(0, 2, 1, 3)
            s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh)                        # [bags, H, B, B]
            s -= s.max(-1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(-1, keepdims=True)
            out[l] = np.diagonal(p, axis1=2, axis2=3).mean(axis=(0, 2))
        else:
            Q = ops.t(U * g1) @ ops.t(ops.wq(l))
            K = ops.t(K0 * g1) @ ops.t(ops.wk(l))
            r = torch.from_numpy(rows)
            q = Q[r].reshape(len(bags), -1, n_head, dh).transpose(1, 2)
            k = K[r].reshape(len(bags), -1, n_head, dh).transpose(1, 2)
            p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
            out[l] = torch.diagonal(p, dim1=-2, dim2=-1).mean(dim=(0, 2)).numpy()
    return out


def random_bags(vocab, size, count, seed):
    rng = np.random.default_rng(seed)
    return [rng.choice(vocab, size=size, replace=False) for _ in range(count)]


def embed(ops, variant="full", chunk=4096):
    V = ops.V
    out = np.empty((ops.V, ops.d), dtype=np.float32)
    for s in range(0, V, chunk):
        out[s:s + chunk] = ops.wee(np.arange(s, min(V, s + chunk)), variant)
    return out


def fullvocab(ops, n_head, head, wee, chunk=512):
    """docs/science.md §4 for one head: mean_diag_prob and rank statistics over all V x V pairs."""
    l, h = head
    d = ops.d
    dh = d // n_head
    V = ops.V
    g1 = ops.ln1(l)
    Wq = ops.wq_head(l, h, dh)
    Wk = ops.wk_head(l, h, dh)
    Q = np.empty((V, dh), np.float32)
    for s in range(0, V, 4096):
        Q[s:s + 4096] = (ops.unembedding_rows(np.arange(s, min(V, s + 4096))) * g1) @ Wq
    K = (wee * g1) @ Wk
    probs = np.empty(V)
    ranks = np.empty(V, np.int64)
    torch = getattr(ops, "torch", None)
    if torch is not None:
        # Two [chunk, V] buffers for every tile and the softmax in place: a fresh 100 MB tensor per operation costs
        # its page faults each time (PyTorch asks for no huge pages, numpy's allocator does: 0.17 s per tensor on the
        # 2-core bench VM). Ranks are counted as a float sum of S - diag > 0 (exact below 2^24): (S > diag).sum(1)
        # reduces a bool tensor through int64 and took 0.42 s per 512-row tile there, against 6 ms; written the
        # obvious way, this loop took 110 s per GPT-2 head instead of about 10.
        Qt, Kt = torch.from_numpy(Q), torch.from_numpy(K)
        S_buf = torch.empty(chunk, V)
        D_buf = torch.empty(chunk, V)
    for s in range(0, V, chunk):
        e = min(V, s + chunk)
        idx = np.arange(s, e)
        if torch is None:
            S = Q[s:e] @ K.T / np.float32(math.sqrt(dh))
            diag = S[np.arange(e - s), idx]
            m = S.max(1)
            lse = m + np.log(np.exp(S - m[:, None]).sum(1))
            probs[s:e] = np.exp(diag - lse)
            ranks[s:e] = (S > diag[:, None]).sum(1)
        else:
            S = S_buf[:e - s]
            torch.matmul(Qt[s:e], Kt.T, out=S)
            S.div_(math.sqrt(dh))
            diag = S[torch.arange(e - s), torch.from_numpy(idx)]
            ranks[s:e] = torch.sub(S, diag[:, None], out=D_buf[:e - s]).gt_(0).sum(1).numpy()
            m = S.max(1).values
            lse = m + S.sub_(m[:, None]).exp_().sum(1).log()
            probs[s:e] = torch.exp(diag - lse).numpy()
    return {"mean_diag_prob": float(probs.mean()), "frac_rank0": float((ranks == 0).mean()),
            "frac_rank_lt10": float((ranks < 10).mean()),
            # the lower median, sorted[(V - 1) // 2] (docs/science.md §4; the ordinary median for GPT-2's odd V)
            "median_rank": float(np.partition(ranks, (V - 1) // 2)[(V - 1) // 2]), "mean_rank": float(ranks.mean())}


def main(argv, open_model=None):
    """open_model(lib, model_dir) -> (ops, n_head); GPT-2's by default."""
    lib, what, model = argv[1], argv[2], argv[3]
    heads = argv[argv.index("--heads") + 1] if "--heads" in argv else "10.7"
    out_file = argv[argv.index("--out") + 1] if "--out" in argv else None
    t_import = time.perf_counter() - T0
    t0 = time.perf_counter()
    if open_model is None:
        w, n_head = load(model)
        ops = TorchOps(w) if lib == "torch" else NumpyOps(w)
    else:
        ops, n_head = open_model(lib, model)
    res = {"peer": lib, "what": what, "t_import": t_import}
    if what == "score":
        if "--bags-from" in argv:  # the exact bags headscan drew (its --json output)
            with open(argv[argv.index("--bags-from") + 1]) as f:
                bags = [np.array(b) for b in json.load(f)["bags"]["ids"]]
        else:
            bags = random_bags(ops.V, 128, 8, 0)
        res["scores"] = score(ops, n_head, bags).tolist()
    elif what == "embed":
        wee = embed(ops, "full")
        if out_file:
            np.save(out_file, wee)
        res["wee_sample"] = wee[[0, 1000, ops.V - 1]].tolist()
    elif what == "fullvocab":
        wee = embed(ops, "full")
        res["t_embed"] = time.perf_counter() - t0
        res["heads"] = {}
        for hs in heads.split(","):
            l, h = map(int, hs.split("."))
            th = time.perf_counter()
            res["heads"][hs] = fullvocab(ops, n_head, (l, h), wee)
            res["heads"][hs]["seconds"] = time.perf_counter() - th
    res["t_compute"] = time.perf_counter() - t0
    print(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv)
