"""Each backbone learns from the images: validation losses fall and its reports beat the trivial baseline.

Small on purpose (240 training studies, 12 epochs of batch 8, greedy decoding; each task set
trained by one backbone); the figures of every backbone x task set on the default synthetic set
come from ``benchmarks/backbones_training.py`` (recorded in ``benchmarks/backbones.md``).
"""

from __future__ import annotations

import pytest
import torch

from mtlbench.backbones.trivial import most_frequent_report
from mtlbench.methods import create as create_method
from mtlbench.metrics import evaluate
from mtlbench.metrics.config import EvalConfig
from mtlbench.runner.environment import seed_everything
from mtlbench.runner.run_one import prepare
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig
from mtlbench.train.loop import fit, generate_reports, mean_losses

CPU = torch.device("cpu")


def select_on_report_loss(figures: dict[str, float]) -> dict[str, float]:
    """Model selection on the report's validation loss alone: the contrastive loss of a 30-study
    validation split is too noisy to choose the epoch whose reports are scored."""
    return figures | {"loss": figures["loss_report"]}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "tasks"),
    [("transformer", ("report", "cls", "align")), ("r2gen", ("report", "cls")), ("cmn", ("report", "cls", "align"))],
    ids=["transformer", "r2gen", "cmn"],
)
def test_backbone_beats_the_most_frequent_report(name: str, tasks: tuple[str, ...]) -> None:
    spec = RunSpec(
        method="ls",
        dataset="synthetic",
        seed=0,
        backbone=name,
        tasks=tasks,
        data_options=(("n_test", 60), ("n_train", 240), ("n_val", 30)),
        backbone_options=(("beam_size", 1),),
        train=TrainConfig(epochs=12, batch_size=8, lr=2e-3, monitor="loss", probe_every=0),
        eval=EvalConfig(meteor=False),
    )
    seed_everything(0)
    prep = prepare(spec, None)
    outcome = fit(
        prep.model,
        create_method("ls"),
        prep.train_batches(spec.seed),
        lambda model: select_on_report_loss(mean_losses(model, prep.loaders["val"], CPU)),
        config=spec.train,
        device=CPU,
        log=lambda entry: None,
    )
    first = outcome.history[0]["val"]
    for task in tasks:  # each task learns: its validation loss falls below the first epoch's at some epoch
        lowest = min(entry["val"][f"loss_{task}"] for entry in outcome.history)
        assert lowest < first[f"loss_{task}"], f"validation loss of {task} did not fall"

    test = prep.splits["test"]
    references = test.reference_texts()
    ids, generated = generate_reports(prep.model, prep.loaders["test"], CPU)
    trivial = [most_frequent_report(prep.splits["train"].reference_texts())] * len(references)
    model_scores = evaluate(ids, generated, references, config=spec.eval, nlg=("BLEU",)).corpus
    trivial_scores = evaluate(ids, trivial, references, config=spec.eval, nlg=("BLEU",)).corpus
    for metric in ("BLEU_4", "CE_F1_micro"):
        assert model_scores[metric] > trivial_scores[metric], (metric, model_scores[metric], trivial_scores[metric])
