"""Writes a Pythia-160M-size GPT-NeoX checkpoint with transformers (random weights, F16), for bench/run while
`headscan synth` has no --family: GPTNeoXForCausalLM at Pythia-160M's config, weights drawn with std 0.1 (the
default 0.02 leaves every Prediction-Attention score at the uniform 1/128) and the norms' weights and all biases
perturbed so that folding them matters, saved with save_pretrained (model.safetensors, config.json).

Usage: python3 bench/tools/neox_hf.py OUT_DIR
"""
import sys

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM


def main(out):
    torch.manual_seed(0)
    cfg = GPTNeoXConfig(vocab_size=50304, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, hidden_act="gelu", rotary_pct=0.25, max_position_embeddings=2048,
                        layer_norm_eps=1e-5, use_parallel_residual=True, tie_word_embeddings=False, initializer_range=0.1)
    m = GPTNeoXForCausalLM(cfg)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "layernorm" in n or "layer_norm" in n:
                p.add_(0.1 * torch.randn_like(p))
            elif n.endswith(".bias"):
                p.add_(0.02 * torch.randn_like(p))
    m.half().save_pretrained(out, safe_serialization=True)


if __name__ == "__main__":
    main(sys.argv[1])
