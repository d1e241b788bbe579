"""Train every backbone x task set on the synthetic data and compare with the trivial baseline.

The trivial baseline writes the most frequent training report (as the tokenizer sees it; ties
broken by typicality, see :mod:`mtlbench.backbones.trivial`) for every test study. Each model
is trained with linear scalarisation (``ls``) through the project's own data pipeline, training
loop and metrics (``run_one.prepare``, ``train.loop.fit``, ``metrics.evaluate``), selected on
validation BLEU-4 (the default monitor), and scored on the test split: BLEU-4 and CE F1 (rule
labeler, uncertain as positive; micro, macro, example-based, and micro over the 5 competition
labels). Validation losses per epoch are recorded so their fall can be checked.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/backbones_training.py --epochs 20
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/backbones_training.py --backbones r2gen --tasks report,cls
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any

import torch

from mtlbench.backbones.trivial import most_frequent_report
from mtlbench.methods import create as create_method
from mtlbench.metrics import evaluate
from mtlbench.metrics.config import EvalConfig
from mtlbench.runner.environment import seed_everything
from mtlbench.runner.run_one import Prepared, prepare
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig
from mtlbench.train.loop import fit, generate_reports, mean_losses

FIGURES = ("BLEU_4", "CE_F1_micro", "CE_F1_macro", "CE_F1_example", "CE_F1_micro5")
TASK_SETS = ("report,cls", "report,align", "report,cls,align")


def trivial_baseline(prep: Prepared, config: EvalConfig) -> dict[str, float]:
    """Scores of writing the most frequent training report for every test study."""
    most_frequent = most_frequent_report(prep.splits["train"].reference_texts())
    test = prep.splits["test"]
    refs = test.reference_texts()
    ids = [ex.id for ex in test.examples]
    return evaluate(ids, [most_frequent] * len(refs), refs, config=config, nlg=("BLEU",)).corpus


def train_one(spec: RunSpec, beam_size: int) -> tuple[dict[str, Any], dict[str, float]]:
    """Train ``spec`` with the project's loop; (test figures and history, trivial baseline figures)."""
    seed_everything(spec.seed)
    prep = prepare(spec, None)
    if beam_size != prep.model.config.beam_size:
        prep.model.config = dataclasses.replace(prep.model.config, beam_size=beam_size)
    device = torch.device("cpu")
    val_loader, test_loader = prep.loaders["val"], prep.loaders["test"]
    val_refs = prep.splits["val"].reference_texts()

    def validate(model: Any) -> dict[str, float]:
        figures = mean_losses(model, val_loader, device)
        ids, texts = generate_reports(model, val_loader, device)
        return figures | evaluate(ids, texts, val_refs, config=spec.eval, nlg=("BLEU",), clinical=False).corpus

    started = time.perf_counter()
    outcome = fit(
        prep.model,
        create_method(spec.method),
        prep.train_batches(spec.seed),
        validate,
        config=spec.train,
        device=device,
        log=lambda entry: None,
    )
    ids, texts = generate_reports(prep.model, test_loader, device)
    scores = evaluate(ids, texts, prep.splits["test"].reference_texts(), config=spec.eval, nlg=("BLEU",)).corpus
    result = {
        "test": {k: scores[k] for k in FIGURES},
        "val_loss": [round(e["val"]["loss"], 4) for e in outcome.history],
        "val_task_loss": {t: [round(e["val"][f"loss_{t}"], 4) for e in outcome.history] for t in spec.tasks},
        "best_epoch": outcome.best_epoch,
        "seconds": round(time.perf_counter() - started, 1),
        "parameters": prep.model.num_parameters(),
        "distinct_reports": len(set(texts)),
        "example": texts[0],
    }
    baseline = trivial_baseline(prep, spec.eval)
    return result, {k: baseline[k] for k in FIGURES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="transformer,r2gen,cmn")
    parser.add_argument("--tasks", default="all", help="one task set such as report,cls, or 'all' (the three sets)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--image-size", type=int, default=TrainConfig.image_size)
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    task_sets = TASK_SETS if args.tasks == "all" else (args.tasks,)
    train = TrainConfig(
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, image_size=args.image_size, monitor="BLEU_4"
    )
    rows = []
    baseline: dict[str, float] | None = None
    for backbone in args.backbones.split(","):
        for tasks in task_sets:
            spec = RunSpec(
                method="ls",
                dataset="synthetic",
                seed=args.seed,
                backbone=backbone,
                tasks=tuple(tasks.split(",")),
                train=train,
                eval=EvalConfig(meteor=False),
            )
            result, baseline = train_one(spec, args.beam_size)
            rows.append({"backbone": backbone, "tasks": tasks} | result)
            print(json.dumps(rows[-1]), flush=True)
    assert baseline is not None
    print(f"\n| backbone | tasks | {' | '.join(FIGURES)} | val loss per task: epoch 1 -> best | s |")
    print("|---|---|" + "---|" * (len(FIGURES) + 2))
    print(f"| trivial baseline | - | {' | '.join(f'{baseline[k]:.3f}' for k in FIGURES)} | - | - |")
    for row in rows:
        figures = " | ".join(f"{row['test'][k]:.3f}" for k in FIGURES)
        best = row["best_epoch"]
        fall = ", ".join(f"{t} {v[0]:.2f} -> {v[best]:.2f}" for t, v in row["val_task_loss"].items())
        print(f"| {row['backbone']} | {row['tasks']} | {figures} | {fall} | {row['seconds']} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"baseline": baseline, "rows": rows, "args": vars(args)}, handle, indent=1)


if __name__ == "__main__":
    main()
