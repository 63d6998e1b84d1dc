"""PyTorch peer of bench/train.ts: the same "bench-small" steps, for a side-by-side figure.

    .cache/torch-venv/bin/python bench/torch_step.py [--iters N] [--threads 2] [--sdpa]

Model: the GPT of lib/model (nanoGPT layout: learned positions, pre-LayerNorm blocks, fused QKV with bias,
exact-erf GELU MLP 4x, final LayerNorm, untied bias-free head), vocab 512, d 128, 4 heads, 4 layers,
context 128, float32, eager CPU. Attention with an explicit additive causal mask (as the tfjs model does),
or F.scaled_dot_product_attention with --sdpa. Batch: 16 sequences x 128 input tokens (8 pairs), the last 64
targets are the response.

Prints one JSON line with train_tokens_per_s (preference step: one forward on [chosen; rejected], the
sigmoid loss against a fixed reference on per-token means, backward, clip_grad_norm_(1.0), AdamW),
score_tokens_per_s (no-grad forward + response log-prob sums read back) and sft_tokens_per_s.
Setup: python3 -m venv .cache/torch-venv && .cache/torch-venv/bin/pip install torch==2.13.0+cpu numpy
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, D, H, L, C = 512, 128, 4, 4, 128
SEQS, T, RESP = 16, 128, 64


class Block(nn.Module):
    def __init__(self, sdpa: bool):
        super().__init__()
        self.ln1 = nn.LayerNorm(D, eps=1e-5)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.ln2 = nn.LayerNorm(D, eps=1e-5)
        self.fc = nn.Linear(D, 4 * D)
        self.out = nn.Linear(4 * D, D)
        self.sdpa = sdpa
        self.register_buffer("bias", torch.triu(torch.full((C, C), -1e9), diagonal=1), persistent=False)

    def forward(self, x):
        B, Tn, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        q, k, v = (t.view(B, Tn, H, D // H).transpose(1, 2) for t in (q, k, v))  # [B, H, T, d]
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(D // H) + self.bias[:Tn, :Tn]
            y = F.softmax(att, dim=-1) @ v
        x = x + self.proj(y.transpose(1, 2).reshape(B, Tn, D))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, sdpa: bool):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(C, D)
        self.blocks = nn.ModuleList(Block(sdpa) for _ in range(L))
        self.lnf = nn.LayerNorm(D, eps=1e-5)
        self.head = nn.Linear(D, V, bias=False)
        for n, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * L) if n.endswith(("proj.weight", "out.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.head(self.lnf(x))


def seq_logps(model, ids, tgt, mask):
    """Response-only log-prob sum, mean and count per sequence: [B] each."""
    lp = F.log_softmax(model(ids), dim=-1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)  # [B, T]
    s = (lp * mask).sum(1)
    n = mask.sum(1)
    return s, s / n, n


def median_ms(fn, iters, warm=3):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sdpa", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = GPT(a.sdpa)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-4, foreach=True)
    g = torch.Generator().manual_seed(1)
    full = torch.randint(3, V, (SEQS, T + 1), generator=g)
    ids, tgt = full[:, :-1], full[:, 1:]
    mask = torch.zeros(SEQS, T)
    mask[:, T - RESP:] = 1.0
    ref_c, ref_r = -1.0 - torch.rand(SEQS // 2, generator=g), -1.0 - torch.rand(SEQS // 2, generator=g)
    beta = 2.5

    def pref_step():
        opt.zero_grad(set_to_none=True)
        _, mean, _ = seq_logps(model, ids, tgt, mask)  # batch is [chosen; rejected]
        pc, pr = mean.chunk(2)
        z = beta * ((pc - ref_c) - (pr - ref_r))
        loss = F.softplus(-z).mean()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item(), norm.item()

    def score():
        with torch.no_grad():
            s, _, _ = seq_logps(model, ids, tgt, mask)
            return s.tolist()

    def sft_step():
        opt.zero_grad(set_to_none=True)
        s, _, n = seq_logps(model, ids, tgt, mask)
        loss = -s.sum() / n.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    tok = SEQS * T
    train_ms = median_ms(pref_step, a.iters)
    score_ms = median_ms(score, a.iters)
    sft_ms = median_ms(sft_step, a.iters)
    print(json.dumps({
        "bench": "train",
        "backend": "pytorch",
        "kind": "pytorch-eager-cpu" + ("-sdpa" if a.sdpa else ""),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "config": "bench-small",
        "batch_sequences": SEQS,
        "seq_len": T,
        "train_tokens_per_s": round(tok / (train_ms / 1000)),
        "train_ms_per_step": round(train_ms, 1),
        "score_tokens_per_s": round(tok / (score_ms / 1000)),
        "score_ms_per_batch": round(score_ms, 1),
        "sft_tokens_per_s": round(tok / (sft_ms / 1000)),
        "sft_ms_per_step": round(sft_ms, 1),
        "iters": a.iters,
        "cpus": os.cpu_count(),
        "load1": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
