"""Parameter counts of every backbone at both sizes: total, shared trunk, and each task head.

    .venv/bin/python benchmarks/backbones_sizes.py --vocab-size 760 --views 2

``tiny`` is built at 64 px and ``paper`` at 224 px (the patch positions of ``tiny`` depend on the
grid). The vocabulary size changes the report head and the align text encoder only; 760 is the
size of R2Gen's IU X-Ray vocabulary (threshold 3), MIMIC-CXR's (threshold 10) is about 4,300.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from mtlbench.backbones import BACKBONES, TASKS, BackboneConfig


class _Words:
    def decode(self, ids: Sequence[int]) -> str:
        return ""


def count(name: str, size: str, vocab_size: int, views: int) -> dict[str, int]:
    config = BackboneConfig(
        vocab_size=vocab_size, tasks=TASKS, size=size, image_size=64 if size == "tiny" else 224, num_views=views
    )
    model = BACKBONES.get(name)(config, _Words())
    model.check_partition()
    out = {"total": model.num_parameters(), "shared": sum(p.numel() for p in model.shared_parameters())}
    out |= {task: sum(p.numel() for p in model.task_parameters(task)) for task in TASKS}
    out["extractor"] = sum(p.numel() for p in model.visual.parameters())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=760)
    parser.add_argument("--views", type=int, default=2)
    args = parser.parse_args()
    columns = ("total", "shared", "extractor", *TASKS)
    print(f"| backbone | size | {' | '.join(columns)} |")
    print("|---|---|" + "---:|" * len(columns))
    for name in ("transformer", "r2gen", "cmn"):
        for size in ("tiny", "paper"):
            counts = count(name, size, args.vocab_size, args.views)
            print(f"| {name} | {size} | {' | '.join(f'{counts[c]:,}' for c in columns)} |")


if __name__ == "__main__":
    main()
