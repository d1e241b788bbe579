"""What using every IU X-Ray view costs: training steps with all views (padded and masked) against
R2Gen's two views, either repeated (R2Gen's loader, and mtlbench before masking) or capped
with padding (``--data-opt iu.max_views=2``).

Batches draw their studies' view counts from the real IU X-Ray annotation (train split: 359
studies with 1 image, 2540 with 2, 149 with 3, 13 with 4, 1 with 5). The same batches, images
and model weights go through every variant, side by side in one process, interleaved, best of
``--repeats``, so the ratios hold on a busy machine even when the absolute times do not.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/backbones_views.py --batches 8 --batch-size 16 --repeats 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import torch

from mtlbench.backbones import BACKBONES, BackboneConfig
from mtlbench.data.batch import Batch

IU_TRAIN_VIEWS = {1: 359, 2: 2540, 3: 149, 4: 13, 5: 1}
"""Images per study in the train split of the IU X-Ray annotation (R2Gen's split, Open-I names)."""


class _Words:
    def decode(self, ids: Sequence[int]) -> str:
        return ""


def _counts(batches: int, batch_size: int, seed: int) -> list[list[int]]:
    """View counts of each study of each batch, drawn from the IU distribution."""
    values = torch.tensor(list(IU_TRAIN_VIEWS), dtype=torch.long)
    weights = torch.tensor(list(IU_TRAIN_VIEWS.values()), dtype=torch.float)
    g = torch.Generator().manual_seed(seed)
    return [values[torch.multinomial(weights, batch_size, True, generator=g)].tolist() for _ in range(batches)]


def _batch(counts: list[int], variant: str, image_size: int, vocab: int, seed: int) -> Batch:
    """``variant``: "all" (every view, padded to the batch's most), "pad2" (first two, padded),
    "repeat2" (first two, a single image repeated: R2Gen's loader)."""
    g = torch.Generator().manual_seed(seed)
    pictures = torch.randn(len(counts), 5, 3, image_size, image_size, generator=g)
    used = [min(n, 2) if variant != "all" else n for n in counts]
    slots = 2 if variant != "all" else max(used)
    images = torch.zeros(len(counts), slots, 3, image_size, image_size)
    mask = torch.zeros(len(counts), slots, dtype=torch.bool)
    for row, n in enumerate(used):
        images[row, :n] = pictures[row, :n]
        mask[row, :n] = True
        if variant == "repeat2" and n == 1:
            images[row, 1], mask[row, 1] = pictures[row, 0], True
    tokens = torch.randint(1, vocab, (len(counts), 40), generator=g)
    tokens[:, 0] = 0
    labels = torch.randint(0, 2, (len(counts), 14), generator=g).float()
    ids = tuple(map(str, range(len(counts))))
    return Batch(ids=ids, images=images, tokens=tokens, mask=torch.ones(len(counts), 40), labels=labels, view_mask=mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    vocab = 760
    counts = _counts(args.batches, args.batch_size, seed=0)
    variants = ("repeat2", "pad2", "all")
    batches = {v: [_batch(c, v, args.image_size, vocab, seed=i) for i, c in enumerate(counts)] for v in variants}
    slots = [max(c) for c in counts]
    print(f"view slots per batch (all views): {slots}")
    print("| backbone | repeat 2 views s | pad to 2 views s | all views s | pad 2 / repeat 2 | all / repeat 2 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ("transformer", "r2gen", "cmn"):
        torch.manual_seed(0)
        config = BackboneConfig(
            vocab_size=vocab, tasks=("report", "cls", "align"), size=args.size, image_size=args.image_size, num_views=5
        )
        model = BACKBONES.get(name)(config, _Words()).train()
        best = dict.fromkeys(variants, float("inf"))
        for _ in range(args.repeats):
            for variant in variants:
                start = time.perf_counter()
                for batch in batches[variant]:
                    model.zero_grad(set_to_none=True)
                    sum(model(batch).values()).backward()
                best[variant] = min(best[variant], time.perf_counter() - start)
        base = best["repeat2"]
        print(
            f"| {name} | {base:.2f} | {best['pad2']:.2f} | {best['all']:.2f} | "
            f"{best['pad2'] / base:.2f} | {best['all'] / base:.2f} |"
        )


if __name__ == "__main__":
    main()
