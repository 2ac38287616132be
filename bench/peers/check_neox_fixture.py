"""Checks neoxpeer.py (numpy and torch) against the float64 reference values of the GPT-NeoX family fixtures
(src/test/resources/families/pythia and its bf16/ copy, expected.json: U, the three W_EE variants, score and
fullvocab of every head). Prints the largest deviations and exits 1 when one is over its bound.

Usage: python3 bench/peers/check_neox_fixture.py [FIXTURE_DIR ...]
"""
import json
import sys
from pathlib import Path

import gpt2peer
import neoxpeer
from gpt2peer import np

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = [ROOT / "src/test/resources/families/pythia", ROOT / "src/test/resources/families/pythia/bf16"]


def check(fixture, lib):
    e = json.loads((Path(fixture) / "expected.json").read_text())
    ops, n_head = neoxpeer.open_model(lib, str(fixture))
    rel = lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())
    toks = np.arange(ops.V)
    r = {"u (max rel.)": rel(ops.unembedding_rows(toks), e["u"])}
    for v in ["hackathon", "full", "noattn"]:
        r[f"wee {v} (max rel.)"] = rel(ops.wee(toks, v), e["wee"][v])
    s = gpt2peer.score(ops, n_head, [np.array(b) for b in e["bags"]])
    r["score (max abs.)"] = max(abs(s[int(k.split(".")[0]), int(k.split(".")[1])] - x) for k, x in e["score"].items())
    wee = gpt2peer.embed(ops, "full")
    r["fullvocab (max abs.)"] = max(abs(gpt2peer.fullvocab(ops, n_head, tuple(map(int, k.split("."))), wee)[st] - x[st])
                                   for k, x in e["fullvocab"].items() for st in x)
    return r


def main(argv):
    bad = False
    libs = ["numpy"]
    try:
        import torch  # noqa: F401
        libs.append("torch")
    except ImportError:
        pass
    for fx in argv[1:] or DEFAULT:
        for lib in libs:
            r = check(fx, lib)
            ok = all(v < 1e-5 for v in r.values())
            bad |= not ok
            print(f"{'ok ' if ok else 'BAD'} {fx} {lib}: " + ", ".join(f"{k} {v:.1e}" for k, v in r.items()))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main(sys.argv)
