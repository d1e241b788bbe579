"""run_one: a pure function of its RunSpec that writes only under its own run folder."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mtlbench.backbones import BACKBONES, BackboneConfig
from mtlbench.data import DATASETS, Tokenizer, attach_labels
from mtlbench.data.torch_data import StudyDataset, make_loader
from mtlbench.methods import create as create_method
from mtlbench.metrics import LABELERS, evaluate
from mtlbench.results import CHECKPOINT, DONE, FAILED, TRAIN_LOG
from mtlbench.runner.environment import describe_environment, pick_device, seed_everything
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore
from mtlbench.train.loop import fit, generate_reports, mean_losses

VOCAB = "vocab.json"


def run_one(
    spec: RunSpec,
    results: Path,
    *,
    data_root: Path | None = None,
    device: str | None = None,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> str:
    """Train, select, generate and score one run; record it as done or failed (with its reason).

    A KeyboardInterrupt or kill leaves the run marked running, so a re-run of the grid redoes it.
    """
    store = ResultStore(results)
    torch_device = pick_device(device)
    folder = store.begin(spec, describe_environment(torch_device))
    try:
        metrics, examples = _train_and_score(spec, folder, data_root, torch_device, on_epoch_end)
    except Exception as err:  # a failing run must not stop the grid: record why and go on
        store.fail(spec, err)
        return FAILED
    store.finish(spec, metrics, examples)
    return DONE


def _train_and_score(
    spec: RunSpec,
    folder: Path,
    data_root: Path | None,
    device: torch.device,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    started = time.perf_counter()
    seed_everything(spec.seed)
    source = DATASETS.get(spec.dataset)(**dict(spec.data_options))
    settings = source.settings
    labeler = LABELERS.get(spec.eval.labeler).from_config(spec.eval)
    annotation = attach_labels(source.load(data_root), labeler=labeler.label)
    splits = annotation.splits
    tokenizer = Tokenizer.build(
        [ex.report for ex in splits["train"]],
        style=settings.cleaning,
        threshold=settings.threshold,
        max_seq_length=settings.max_seq_length,
    )
    tokenizer.save(folder / VOCAB)

    def split(name: str, train: bool) -> StudyDataset:
        return StudyDataset(
            splits[name],
            Path(annotation.image_dir),
            tokenizer,
            num_views=settings.num_views,
            image_size=spec.train.image_size,
            train=train,
            uncertain=spec.train.cls_uncertain,
            seed=spec.seed,
        )

    train_set, val_set, test_set = split("train", True), split("val", False), split("test", False)
    batch_size = spec.train.batch_size
    train_loader = make_loader(train_set, batch_size=batch_size, shuffle=True, seed=spec.seed)
    val_loader = make_loader(val_set, batch_size=batch_size, shuffle=False, seed=spec.seed)
    test_loader = make_loader(test_set, batch_size=batch_size, shuffle=False, seed=spec.seed)
    val_refs = val_set.reference_texts()

    def train_batches(epoch: int) -> Any:
        # order and augmentation depend only on (seed, epoch), so a resumed run sees the same batches
        train_set.set_epoch(epoch)
        train_loader.generator.manual_seed(spec.seed * 100_003 + epoch)
        return train_loader

    def validate(model: Any) -> dict[str, float]:
        figures = mean_losses(model, val_loader, device)
        if spec.train.monitor != "loss":
            ids, texts = generate_reports(model, val_loader, device)
            scores = evaluate(ids, texts, val_refs, config=spec.eval, nlg=("BLEU", "ROUGE_L"), clinical=False)
            figures |= scores.corpus
        return figures

    model = BACKBONES.get(spec.backbone)(
        BackboneConfig(
            vocab_size=tokenizer.vocab_size,
            max_len=settings.max_seq_length,
            tasks=spec.tasks,
            size=spec.size,
            image_size=spec.train.image_size,
            num_views=settings.num_views,
        ),
        decoder=tokenizer,
    )
    method = create_method(spec.method, **dict(spec.method_params))
    with open(folder / TRAIN_LOG, "a", encoding="utf-8") as log_file:

        def log(entry: dict[str, Any]) -> None:
            log_file.write(json.dumps(entry, default=float) + "\n")
            log_file.flush()

        outcome = fit(
            model,
            method,
            train_batches,
            validate,
            config=spec.train,
            device=device,
            log=log,
            checkpoint=folder / CHECKPOINT,  # a killed or pre-empted run resumes after its last epoch
            on_epoch_end=on_epoch_end,
        )
    trained = time.perf_counter()
    ids, texts = generate_reports(model, test_loader, device)
    evaluation = evaluate(ids, texts, test_set.reference_texts(), config=spec.eval)
    metrics = {
        "test": evaluation.corpus,
        "test_per_label": evaluation.per_label,
        "val": outcome.history[outcome.best_epoch]["val"] if outcome.history else {},
        "best_epoch": outcome.best_epoch,
        "epochs": len(outcome.history),
        "history": outcome.history,
        "diagnostics": outcome.diagnostics,
        "eval": {
            "labeler": spec.eval.labeler,
            "labeler_description": labeler.description,
            "uncertain": spec.eval.uncertain,
        },
        "model": {
            "parameters": model.num_parameters(),
            "shared_parameters": sum(p.numel() for p in model.shared_parameters()),
        },
        "data": {
            "vocab_size": tokenizer.vocab_size,
            "sizes": {name: len(examples) for name, examples in splits.items()},
        },
        "timing": {"train_s": trained - started, "total_s": time.perf_counter() - started},
    }
    return metrics, evaluation.per_example
