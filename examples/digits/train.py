"""Train the ``digits`` preset (a 4-block MoE-ViT, 8 experts top-2 in blocks 1 and 3) on scikit-learn's
digits and save its state_dict to examples/digits/digits.pt.  Seeded and single-threaded, so a rerun on the
same torch version writes the same weights.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python examples/digits/train.py [--epochs 60] [-o digits.pt]

The loss is cross-entropy plus a load-balancing term per MoE layer (experts x the dot product of each
expert's share of top-k slots and its mean gate probability, weight 0.01), so no expert is left idle.
Each epoch shifts every training image by up to one source pixel in each direction (seeded)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hwmoe.digits import CHECKPOINT, digits_split
from hwmoe.frontend.model import MoE, build_model, make_config

BALANCE_WEIGHT = 0.01


def balance_loss(logits: list[torch.Tensor], top_k: int) -> torch.Tensor:
    """Sum over MoE layers of E * sum_e (share of top-k slots on e) * (mean probability of e)."""
    total = torch.zeros(())
    for z in logits:
        z = z.reshape(-1, z.shape[-1])
        probs = z.softmax(-1)
        chosen = F.one_hot(z.topk(top_k, -1).indices, z.shape[-1]).sum(1).float()
        total = total + z.shape[-1] * (chosen.mean(0) / top_k * probs.mean(0)).sum()
    return total


def shifted(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each image moved by -2, 0 or +2 pixels (one source pixel) in each direction, zero (-1) filled."""
    out = torch.full_like(x, -1.0)
    dy, dx = (2 * (torch.randint(0, 3, (2, x.shape[0]), generator=gen) - 1)).tolist()
    for i, (a, b) in enumerate(zip(dy, dx)):
        src = x[i, :, max(0, -a):16 - max(0, a), max(0, -b):16 - max(0, b)]
        out[i, :, max(0, a):max(0, a) + src.shape[1], max(0, b):max(0, b) + src.shape[2]] = src
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default=str(CHECKPOINT))
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(a.seed)
    start = time.time()
    x_train, y_train, x_test, y_test = (torch.from_numpy(v) for v in digits_split())
    x_train, x_test = x_train.float(), x_test.float()
    cfg = make_config("digits")
    model = build_model(cfg, a.seed).train()
    logits: list[torch.Tensor] = []
    for m in model.modules():
        if isinstance(m, MoE):
            m.gate.register_forward_hook(lambda mod, inp, out: logits.append(out))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    steps_per_epoch = -(-len(x_train) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=a.epochs * steps_per_epoch, pct_start=0.1)
    gen = torch.Generator().manual_seed(a.seed)
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=gen)
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            logits.clear()
            out = model(shifted(x_train[idx], gen))
            loss = F.cross_entropy(out, y_train[idx]) + BALANCE_WEIGHT * balance_loss(logits, cfg.top_k)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if epoch % 10 == 9 or epoch == a.epochs - 1:
            model.eval()
            with torch.no_grad():
                acc = (model(x_test).argmax(-1) == y_test).float().mean().item()
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}, test top-1 {100 * acc:.2f}% "
                  f"({time.time() - start:.0f} s)", flush=True)
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), a.output)
    print(f"wrote {a.output} ({Path(a.output).stat().st_size / 1e6:.2f} MB) in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
