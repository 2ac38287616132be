#!/usr/bin/env python3
"""Writes the PyTorch checkpoint fixtures of headscan's tests with real PyTorch (and Python's zipfile / pickle).

Run from this folder where torch is installed:  python3 make_fixtures.py
The outputs are small and committed; the tests never need torch. Every value is a formula the Java tests
recompute on their own (see PyTorchFixturesTest), so a fixture checks the reader, not itself.

  dtypes.bin         torch.save of an OrderedDict with _metadata: F32, F16, BF16, F64 tensors, a tied tensor
                     (same storage), a view at a storage offset, a 0-dim tensor, a uint8 mask, an nn.Parameter
  pointer-keys.bin   the same state dict as PyTorch 1.7 wrote it: storage keys that are pointer-like numbers, no
                     byteorder record, folder "archive/"; rewritten by zipfile through a stream that cannot seek, so
                     every entry has a data descriptor and ZIP64 local extra fields, and data is not aligned
  big-endian.bin     dtypes.bin with its byteorder record saying "big"
  compressed.bin     dtypes.bin with every entry deflated
  legacy.bin         torch.save(..., _use_new_zipfile_serialization=False): the pre-1.6 format
  os-system.bin      a ZIP laid out like a checkpoint whose data.pkl is pickle.dumps of an object that reduces to
                     os.system (never run by headscan)
  tiny-gpt2/         pytorch_model.bin (GPT2LMHeadModel-style names, lm_head tied to wte) and model.safetensors
                     (written by hand: 8-byte length, JSON header, data) of the same weights, and config.json
"""
import collections, io, json, os, pickle, pickletools, struct, zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def ramp(n, scale, shift, dtype):
    """Element i is ((i * 7) % 31) * scale + shift, computed in float64 and then cast."""
    i = torch.arange(n, dtype=torch.float64)
    return (((i * 7) % 31) * scale + shift).to(dtype)


def dtypes_state_dict():
    sd = collections.OrderedDict()
    w = ramp(12, 0.5, -3.0, torch.float32).reshape(3, 4)
    sd["f32"] = w
    sd["tied"] = w                                   # same storage, a memo reference in the pickle
    sd["f16"] = ramp(10, 0.25, -1.0, torch.float16).reshape(2, 5)
    sd["bf16"] = ramp(6, 2.0, 1.0, torch.bfloat16)
    sd["f64"] = ramp(4, 0.125, 0.0, torch.float64)
    base = ramp(20, 1.0, 0.0, torch.float32)
    sd["offset_view"] = base[8:14].view(2, 3)        # storage offset 8 into a 20-element storage
    sd["scalar"] = torch.tensor(-1e4)                # 0-dim, like attn.masked_bias
    sd["mask"] = torch.tril(torch.ones(1, 1, 3, 3, dtype=torch.uint8))
    sd["param"] = torch.nn.Parameter(ramp(3, 1.0, 5.0, torch.float32))
    sd._metadata = collections.OrderedDict({"": {"version": 1}, "f32": {"version": 1}})
    return sd


def rewrite(src, dst, entries_fn, compress=zipfile.ZIP_STORED, stream=False, force_zip64=False):
    zin = zipfile.ZipFile(src)
    items = [(i.filename, zin.read(i.filename)) for i in zin.infolist()]
    items = entries_fn(items)

    class NoSeek(io.RawIOBase):
        def __init__(self, f):
            self.f = f
        def writable(self):
            return True
        def write(self, b):
            return self.f.write(b)

    with open(dst, "wb") as raw:
        target = NoSeek(raw) if stream else raw
        with zipfile.ZipFile(target, "w", compression=compress) as z:
            for name, data in items:
                info = zipfile.ZipInfo(name, date_time=(2021, 1, 1, 0, 0, 0))
                info.compress_type = compress
                with z.open(info, "w", force_zip64=force_zip64) as w:
                    w.write(data)


def pointer_keys(items):
    """Folder archive/, keys 140234567890123 + 64 k, no byteorder record (PyTorch 1.7's layout)."""
    keys = {}
    out = []
    for name, data in items:
        folder, rest = name.split("/", 1)
        if rest == "byteorder" or rest.startswith(".data/") or rest.startswith("."):
            continue
        if rest.startswith("data/"):
            k = rest[len("data/"):]
            keys.setdefault(k, str(140234567890123 + 64 * len(keys)))
            rest = "data/" + keys[k]
        out.append(("archive/" + rest, data))
    renamed = []
    for name, data in out:
        if name.endswith("/data.pkl"):
            data = rekey_pickle(data, keys)
        renamed.append((name, data))
    renamed.sort(key=lambda e: (not e[0].endswith("data.pkl"), e[0]))
    return renamed


def rekey_pickle(data, keys):
    """Replaces the storage keys (BINUNICODE right after a storage GLOBAL or its memo BINGET) by the new ones."""
    ops = list(pickletools.genops(data))
    out = bytearray()
    last = 0
    for n, (op, arg, pos) in enumerate(ops):
        if op.name == "BINUNICODE" and arg in keys and is_key_position(ops, n):
            out += data[last:pos]
            k = keys[arg].encode()
            out += b"X" + struct.pack("<I", len(k)) + k
            last = pos + 1 + 4 + len(arg.encode())
    out += data[last:]
    return bytes(out)


def is_key_position(ops, n):
    # walk back over BINPUTs to the storage type: a GLOBAL 'torch XStorage' or a BINGET of one
    j = n - 1
    while j >= 0 and ops[j][0].name in ("BINPUT", "LONG_BINPUT"):
        j -= 1
    if j < 0:
        return False
    op, arg, _ = ops[j]
    if op.name == "GLOBAL":
        return arg.endswith("Storage")
    if op.name == "BINGET":
        k = j - 1
        while k >= 0 and ops[k][0].name in ("BINPUT", "LONG_BINPUT"):
            k -= 1
        return k >= 0 and ops[k][0].name in ("BINUNICODE", "BINGET")
    return False


def set_big(items):
    return [(n, b"big" if n.endswith("/byteorder") else d) for n, d in items]


class Evil:
    def __reduce__(self):
        return (os.system, ("echo headscan-fixture-ran-code",))


def tiny_gpt2(folder):
    torch.manual_seed(0)
    V, d, L, H, n_ctx = 48, 16, 2, 4, 8
    names = [("wte.weight", (V, d)), ("wpe.weight", (n_ctx, d))]
    for l in range(L):
        p = f"h.{l}."
        names += [(p + "ln_1.weight", (d,)), (p + "ln_1.bias", (d,)), (p + "attn.bias", (1, 1, n_ctx, n_ctx)),
                  (p + "attn.c_attn.weight", (d, 3 * d)), (p + "attn.c_attn.bias", (3 * d,)),
                  (p + "attn.c_proj.weight", (d, d)), (p + "attn.c_proj.bias", (d,)),
                  (p + "ln_2.weight", (d,)), (p + "ln_2.bias", (d,)),
                  (p + "mlp.c_fc.weight", (d, 4 * d)), (p + "mlp.c_fc.bias", (4 * d,)),
                  (p + "mlp.c_proj.weight", (4 * d, d)), (p + "mlp.c_proj.bias", (d,))]
    names += [("ln_f.weight", (d,)), ("ln_f.bias", (d,))]
    tensors = collections.OrderedDict()
    for name, shape in names:
        if name.endswith(".attn.bias"):
            t = torch.tril(torch.ones(shape, dtype=torch.uint8))
        elif name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
            t = 1.0 + 0.1 * torch.randn(shape)
        else:
            t = 0.2 * torch.randn(shape)
        tensors[name] = t.contiguous()
    os.makedirs(folder, exist_ok=True)
    sd = collections.OrderedDict(("transformer." + k, v) for k, v in tensors.items())
    sd["transformer.h.0.attn.masked_bias"] = torch.tensor(-1e4)
    sd["transformer.h.1.attn.masked_bias"] = torch.tensor(-1e4)
    sd["lm_head.weight"] = sd["transformer.wte.weight"]
    torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
    header, blobs, off = {}, [], 0
    for k, v in tensors.items():
        b = v.numpy().tobytes()
        header[k] = {"dtype": "U8" if v.dtype == torch.uint8 else "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"model_type": "gpt2", "n_embd": d, "n_head": H, "n_layer": L, "n_positions": n_ctx, "vocab_size": V}, f, indent=2)


def main():
    out = lambda n: os.path.join(HERE, n)
    torch.save(dtypes_state_dict(), out("dtypes.bin"))
    rewrite(out("dtypes.bin"), out("pointer-keys.bin"), pointer_keys, stream=True, force_zip64=True)
    rewrite(out("dtypes.bin"), out("big-endian.bin"), set_big)
    rewrite(out("dtypes.bin"), out("compressed.bin"), lambda i: i, compress=zipfile.ZIP_DEFLATED)
    torch.save(dtypes_state_dict(), out("legacy.bin"), _use_new_zipfile_serialization=False)
    with zipfile.ZipFile(out("os-system.bin"), "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(Evil(), protocol=2))
        z.writestr("archive/version", "3\n")
    tiny_gpt2(out("tiny-gpt2"))
    # each file must load back in PyTorch exactly as written (the refused ones excepted)
    for n in ("dtypes.bin", "pointer-keys.bin", "tiny-gpt2/pytorch_model.bin"):
        torch.load(out(n), weights_only=True)
    print("torch", torch.__version__, "wrote", sorted(os.listdir(HERE)))


if __name__ == "__main__":
    main()
