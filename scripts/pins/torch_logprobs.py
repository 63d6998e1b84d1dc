"""Response log-prob sums of the dumped tiny model in PyTorch float64 (an independent implementation of lib/model's
GPT: F.layer_norm, exact-erf F.gelu, masked causal softmax, log_softmax). See dump-tiny-model.ts."""
import json
import math
import sys

import torch
import torch.nn.functional as F

d = json.load(open(sys.argv[1]))
cfg = d["config"]
P = {k: torch.tensor(v["data"], dtype=torch.float64).reshape(v["shape"]) for k, v in d["params"].items()}
D, H, L, eps = cfg["dModel"], cfg["nHeads"], cfg["nLayers"], cfg["layerNormEps"]


def logits(ids):
    T = len(ids)
    x = P["wte"][ids] + P["wpe"][:T]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for i in range(L):
        p = lambda n: P[f"h.{i}.{n}"]
        a = F.layer_norm(x, (D,), p("ln1.g"), p("ln1.b"), eps)
        q, k, v = (a @ p("attn.qkv.w") + p("attn.qkv.b")).split(D, dim=1)
        q, k, v = (t.reshape(T, H, D // H).transpose(0, 1) for t in (q, k, v))
        att = (q @ k.transpose(1, 2)) / math.sqrt(D // H)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(0, 1).reshape(T, D)
        x = x + y @ p("attn.proj.w") + p("attn.proj.b")
        m = F.layer_norm(x, (D,), p("ln2.g"), p("ln2.b"), eps)
        x = x + F.gelu(m @ p("mlp.fc.w") + p("mlp.fc.b")) @ p("mlp.proj.w") + p("mlp.proj.b")
    h = F.layer_norm(x, (D,), P["lnf.g"], P["lnf.b"], eps)
    return h @ P["head"]


for pair in d["pairs"]:
    ids = pair["ids"]
    lp = F.log_softmax(logits(ids[:-1]), -1)
    s = sum(lp[t, ids[t + 1]].item() for t in range(pair["responseStart"] - 1, len(ids) - 1))
    n = len(ids) - pair["responseStart"]
    print(json.dumps({"prompt": pair["prompt"], "response": pair["response"], "sum": s, "count": n}))
