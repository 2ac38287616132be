"""A PyTorch implementation on the GPU of `headscan fullvocab` (docs/science.md §1, §2 variant full, §4), written as a
researcher with a GPU would: everything on the device, 8192-row blocks, logsumexp, one comparison count. Used by
bench/gpu/check.sh to time headscan against it on the same GPU and to check that the statistics agree.

Usage: python3 torch_fullvocab.py MODEL_DIR [--heads all|L.H,...] [--tf32] [--out FILE]
Prints one JSON object: per-head statistics and timings (seconds).
"""
import json
import math
import struct
import sys
import time

import numpy as np
import torch


def load(model_dir, dev):
    path = model_dir + "/model.safetensors"
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        a = raw[8 + n + b: 8 + n + e].view("<f4").reshape(t["shape"])
        out[name.removeprefix("transformer.")] = torch.from_numpy(np.ascontiguousarray(a)).to(dev)
    with open(model_dir + "/config.json") as f:
        return out, json.load(f)["n_head"]


def cd(x):
    return x - x.mean(-1, keepdim=True)


def lnpre(x):
    c = cd(x)
    return c / torch.sqrt((c * c).mean(-1, keepdim=True) + 1e-5)


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def main(argv):
    model_dir = argv[0]
    heads = argv[argv.index("--heads") + 1] if "--heads" in argv else "all"
    out_file = argv[argv.index("--out") + 1] if "--out" in argv else None
    torch.backends.cuda.matmul.allow_tf32 = "--tf32" in argv
    dev = torch.device("cuda")
    t0 = time.perf_counter()
    w, n_head = load(model_dir, dev)
    torch.cuda.synchronize()
    t_load = time.perf_counter() - t0
    E = w["wte.weight"]
    V, d = E.shape
    layers = sum(1 for k in w if k.endswith(".ln_1.weight"))
    dh = d // n_head
    t1 = time.perf_counter()
    U = cd(E * w["ln_f.weight"])
    U = U - U.mean(0, keepdim=True)                                  # §1: ln_f folded, centred over d, then over V
    x = lnpre(E) * w["h.0.ln_1.weight"]                              # §2, variant full
    r = cd(E) + cd(x @ w["h.0.attn.c_attn.weight"][:, 2 * d:] @ w["h.0.attn.c_proj.weight"])
    y = lnpre(r) * w["h.0.ln_2.weight"] + w["h.0.ln_2.bias"]
    mlp = cd(gelu_new(y @ w["h.0.mlp.c_fc.weight"] + w["h.0.mlp.c_fc.bias"]) @ w["h.0.mlp.c_proj.weight"] + w["h.0.mlp.c_proj.bias"])
    wee = r + mlp
    torch.cuda.synchronize()
    t_wee = time.perf_counter() - t1
    todo = [(l, h) for l in range(layers) for h in range(n_head)] if heads == "all" else \
        [tuple(int(p) for p in s.split(".")) for s in heads.split(",")]
    stats = {}
    t2 = time.perf_counter()
    block = 8192
    idx = torch.arange(V, device=dev)
    for (l, h) in todo:
        g1 = w[f"h.{l}.ln_1.weight"]
        W = w[f"h.{l}.attn.c_attn.weight"]
        Q = U @ (g1[:, None] * W[:, h * dh:(h + 1) * dh])
        K = wee @ (g1[:, None] * W[:, d + h * dh:d + (h + 1) * dh])
        probs = torch.empty(V, device=dev, dtype=torch.float64)
        ranks = torch.empty(V, device=dev, dtype=torch.int64)
        for s in range(0, V, block):
            e = min(V, s + block)
            S = (Q[s:e] @ K.T) / math.sqrt(dh)
            diag = S[torch.arange(e - s, device=dev), idx[s:e]]
            probs[s:e] = torch.exp(diag - torch.logsumexp(S, dim=1)).double()
            ranks[s:e] = (S > diag[:, None]).sum(1)
        rk = ranks.double()
        stats[f"{l}.{h}"] = {"mean_diag_prob": probs.mean().item(), "frac_rank0": (rk == 0).double().mean().item(),
                             "frac_rank_lt10": (rk < 10).double().mean().item(), "median_rank": torch.quantile(rk, 0.5).item(),
                             "mean_rank": rk.mean().item()}
    torch.cuda.synchronize()
    t_heads = time.perf_counter() - t2
    result = {"gpu": torch.cuda.get_device_name(0), "tf32": "--tf32" in argv, "heads": stats,
              "timings_s": {"load": t_load, "wee": t_wee, "heads": t_heads, "per_head": t_heads / len(todo)}}
    text = json.dumps(result, indent=1)
    if out_file:
        with open(out_file, "w") as f:
            f.write(text)
    print(json.dumps(result["timings_s"]))


if __name__ == "__main__":
    main(sys.argv[1:])
