"""Report generation speed: incremental decoding (cached keys/values and memory state) vs re-running
the decoder over the whole prefix at every step, and the cost of beam 3 over greedy.

All variants run side by side in one process on the same untrained tiny models and images, so
the ratios hold on a busy machine even when the absolute times do not.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/backbones_decoding.py --studies 16 --repeats 3
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable, Sequence

import torch

from mtlbench.backbones import BACKBONES, BackboneConfig
from mtlbench.backbones.decoding import beam_search


class _Words:
    def decode(self, ids: Sequence[int]) -> str:
        return ""


def _best_of(repeats: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(name: str, studies: int, max_len: int, repeats: int) -> tuple[float, float, float]:
    """Seconds of (full-prefix greedy, incremental greedy, incremental beam 3) for one backbone."""
    torch.manual_seed(0)
    config = BackboneConfig(vocab_size=760, max_len=max_len, beam_size=1, block_trigrams=False)
    model = BACKBONES.get(name)(config, _Words()).eval()
    with torch.no_grad():  # the untrained model never emits EOS, so every variant decodes max_len tokens
        model.heads["report"].logit.bias[0] = -1e4
    images = torch.randn(studies, 2, 3, 64, 64, generator=torch.Generator().manual_seed(0))

    @torch.no_grad()
    def full_prefix() -> torch.Tensor:
        visual, _ = model.encode(images)  # all views real: no patch mask
        head, respond = model.heads["report"], model._respond()

        def step(tokens: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
            return torch.log_softmax(head(visual, tokens, respond)[:, -1], dim=-1)

        return beam_search(step, studies, beam_size=1, max_len=max_len, device=images.device)

    slow = _best_of(repeats, full_prefix)
    greedy = _best_of(repeats, lambda: model.generate_ids(images))
    model.config = dataclasses.replace(model.config, beam_size=3, block_trigrams=True)
    beam = _best_of(repeats, lambda: model.generate_ids(images))
    return slow, greedy, beam


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=16)
    parser.add_argument("--max-len", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        "| backbone | full-prefix greedy s | incremental greedy s | speed-up | incremental beam 3 s | beam 3 / greedy |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in ("transformer", "r2gen", "cmn"):
        slow, greedy, beam = measure(name, args.studies, args.max_len, args.repeats)
        print(f"| {name} | {slow:.2f} | {greedy:.2f} | {slow / greedy:.1f}x | {beam:.2f} | {beam / greedy:.1f}x |")


if __name__ == "__main__":
    main()
