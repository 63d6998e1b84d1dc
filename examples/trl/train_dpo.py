"""Train a pivot with Hugging Face TRL on the file `infifpo fuse --export trl` writes: DPO whose reference is
InfiFPO's fused reference, precomputed (max-margin, clipping and length normalisation already applied).

    infifpo score ... --output scored.jsonl            # ref_* (pivot) and fuse_* (sources) columns
    infifpo fuse -i scored.jsonl -o trl.jsonl --export trl
    python train_dpo.py --data trl.jsonl --model PIVOT_DIR --loss-type sigmoid_norm --beta 2.5
    accelerate launch --config_file deepspeed_zero2.yaml train_dpo.py --data trl.jsonl --model PIVOT_DIR ...

The file's ref_chosen_logps / ref_rejected_logps are on TRL's sum scale (lib/data/trl-export.ts): with length-norm
on, loss_type "sigmoid_norm" gives InfiFPO-LN's loss exactly, −log σ(β[(ℓ̄θ − ℓ̄fu)(y_w) − (ℓ̄θ − ℓ̄fu)(y_l)]); with
--no-length-norm, "sigmoid" gives InfiFPO without LN.

TRL 1.13 uses reference columns found in the data only with precompute_ref_log_probs=True, and then computes its own
and appends them (a "duplicated columns" error): `FusedReferenceDPOTrainer` keeps the file's columns instead.

--tiny builds a small random Llama with a character tokenizer here (no download), for checking the plumbing on a
CPU. --check evaluates before training and asserts that TRL's eval loss equals the loss computed independently
below from the policy's own log-probs and the file's reference — i.e. that TRL reads the fused reference as intended.
"""
import argparse
import json
import math
import os
import sys
import tempfile

import torch
import torch.nn.functional as F
from datasets import load_dataset
from trl import DPOConfig, DPOTrainer


class FusedReferenceDPOTrainer(DPOTrainer):
    """DPOTrainer that takes ref_chosen_logps / ref_rejected_logps from the dataset instead of computing them."""

    def _precompute_ref_logps(self, dataset, name, batch_size):
        missing = {"ref_chosen_logps", "ref_rejected_logps"} - set(dataset.column_names)
        if missing:
            raise ValueError(f"the {name} dataset has no {sorted(missing)} columns: write it with `infifpo fuse --export trl`")
        return dataset


def tiny_model(texts, out_dir):
    """A 2-layer Llama (d 64) with a character-level tokenizer over `texts`, saved to out_dir."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
    chars = sorted({c for t in texts for c in t})
    vocab = {tok: i for i, tok in enumerate(specials + chars)}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tk.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=4, max_position_embeddings=512, bos_token_id=vocab["<bos>"], eos_token_id=vocab["<eos>"],
                      pad_token_id=vocab["<pad>"], tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


@torch.no_grad()
def expected_loss(model, tok, rows, beta, loss_type):
    """The mean per-pair loss, computed here without TRL: TRL's tokenization (prompt, then prompt + response + EOS for
    plain text; the chat template for conversations), summed response log-probs, the file's reference."""
    model.eval()
    losses = []
    for r in rows:
        scores = []
        for side in ("chosen", "rejected"):
            if isinstance(r["prompt"], list):
                p = tok.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
                full = tok.apply_chat_template(r["prompt"] + r[side], tokenize=True, return_dict=True)["input_ids"]
            else:
                p = tok(r["prompt"])["input_ids"]
                full = tok(r["prompt"] + r[side] + tok.eos_token)["input_ids"]
            assert full[: len(p)] == p, "prompt tokens are not a prefix of prompt + response"
            ids = torch.tensor([full])
            logits = model(ids).logits[0, :-1].float()
            lp = torch.log_softmax(logits, dim=-1).gather(1, ids[0, 1:, None])[:, 0]
            logp = lp[len(p) - 1 :].sum().item()
            n = len(full) - len(p)
            ratio = logp - r[f"ref_{side}_logps"]
            scores.append(ratio / n if loss_type in ("sigmoid_norm", "ipo") else ratio)
        z = beta * (scores[0] - scores[1])
        losses.append(F.softplus(torch.tensor(-z)).item() if loss_type in ("sigmoid", "sigmoid_norm") else float("nan"))
    return sum(losses) / len(losses)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="JSONL from `infifpo fuse --export trl`")
    ap.add_argument("--model", help="the pivot (a Hugging Face model directory or hub id); or --tiny")
    ap.add_argument("--tiny", action="store_true", help="build a small random Llama with a character tokenizer (CPU check)")
    ap.add_argument("--loss-type", default="sigmoid_norm", help="sigmoid_norm for a file fused with length-norm (default), sigmoid without")
    ap.add_argument("--beta", type=float, default=2.5, help="β: 2.5 with length-norm, 0.1 without (infifpo.md)")
    ap.add_argument("--lr", type=float, default=5e-6)
    ap.add_argument("--max-steps", type=int, default=-1)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--output-dir", default="runs/trl-dpo")
    ap.add_argument("--check", action="store_true", help="assert TRL's eval loss before training equals the independent computation")
    ap.add_argument("--limit", type=int, default=0, help="use the first N rows only")
    a = ap.parse_args()
    if not a.model and not a.tiny:
        ap.error("give --model or --tiny")

    ds = load_dataset("json", data_files=a.data, split="train")
    if a.limit:
        ds = ds.select(range(min(a.limit, len(ds))))
    for col in ("prompt", "chosen", "rejected", "ref_chosen_logps", "ref_rejected_logps"):
        if col not in ds.column_names:
            sys.exit(f"{a.data}: no '{col}' column; write the file with `infifpo fuse --export trl`")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = a.model
    if a.tiny:
        texts = []
        for r in ds:
            for k in ("prompt", "chosen", "rejected"):
                v = r[k]
                texts.append(v if isinstance(v, str) else " ".join(m["content"] + m["role"] for m in v))
        model_dir = tiny_model(texts, tempfile.mkdtemp(prefix="tiny-llama-"))
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)

    cfg = DPOConfig(
        output_dir=a.output_dir,
        loss_type=[a.loss_type],
        beta=a.beta,
        precompute_ref_log_probs=True,
        learning_rate=a.lr,
        max_steps=a.max_steps,
        num_train_epochs=a.epochs,
        per_device_train_batch_size=a.batch_size,
        per_device_eval_batch_size=1,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        seed=0,
    )
    trainer = FusedReferenceDPOTrainer(model=model, args=cfg, train_dataset=ds, eval_dataset=ds, processing_class=tok)
    result = {"rows": len(ds), "loss_type": a.loss_type, "beta": a.beta}
    if a.check:
        got = trainer.evaluate()["eval_loss"]
        want = expected_loss(model, tok, [dict(r) for r in ds], a.beta, a.loss_type)
        result.update(eval_loss_trl=got, eval_loss_independent=want)
        if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5):
            print(json.dumps(result))
            sys.exit(f"CHECK FAILED: TRL's eval loss {got} != {want} computed from the file's reference")
    out = trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    result.update(train_loss=out.training_loss, steps=trainer.state.global_step,
                  first=logs[0] if logs else None, last=logs[-1] if logs else None)
    if trainer.accelerator.is_main_process:
        print(json.dumps(result))
    if a.check and not all(math.isfinite(h["loss"]) for h in logs):
        sys.exit("CHECK FAILED: a non-finite training loss")


if __name__ == "__main__":
    main()
