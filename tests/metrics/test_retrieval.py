"""The align task's retrieval recall@k, worked out by hand, and a run's head outputs end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlbench.errors import MtlbenchError
from mtlbench.metrics.retrieval import ALIGN_KEYS, retrieval_hits, score_retrieval
from mtlbench.runner.run_one import _score_trained_tasks, prepare
from mtlbench.runner.spec import RunSpec
from mtlbench.train.config import TrainConfig


def test_ranks_count_the_non_positives_above_the_best_positive() -> None:
    # image i scores report j by images[i] . reports[j]
    images = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, 0.6]])
    reports = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.8, 0.6]])
    texts = ["a", "b", "c", "a"]  # studies 0 and 3 share their report: each other's positives
    hits = retrieval_hits(images, reports, texts)
    # i2t: image 0 scores (0, 0, 1, .8): positives {0, 3}, best .8, one non-positive above -> rank 2
    # image 1 scores (1, 1, 0, .6): positive {1} at 1, report 0 ties (not above) -> rank 1
    # image 2 scores (.8, .8, .6, .96): positive {2} at .6, three above -> rank 4
    # image 3 scores (.6, .6, .8, 1): positives {0, 3}, best 1 -> rank 1
    assert hits[:, 0].tolist() == [0, 1, 0, 1] and hits[:, 1].tolist() == [1, 1, 1, 1]
    # t2i: report 2 = (1, 0) scores images (1, 0, .6, .8): positive {2} at .6, two above -> rank 3
    assert hits[2, 3] == 0 and hits[2, 4] == 1
    recall = score_retrieval(hits)
    assert list(recall) == list(ALIGN_KEYS) and recall["ALIGN_R1_i2t"] == 0.5 and recall["ALIGN_R5_i2t"] == 1.0


def test_shapes_are_checked() -> None:
    with pytest.raises(MtlbenchError, match="one reference text each"):
        retrieval_hits(np.zeros((2, 3)), np.zeros((2, 3)), ["a"])


def test_a_run_adds_every_trained_heads_outputs_to_its_examples() -> None:
    spec = RunSpec(
        method="ls",
        dataset="synthetic",
        seed=0,
        tasks=("report", "cls", "align"),
        data_options=(("n_test", 8), ("n_train", 16), ("n_val", 8)),
        train=TrainConfig(image_size=32, batch_size=4),
    )
    prep = prepare(spec, None)
    rows = [{"id": ex.id} for ex in prep.splits["test"].examples]
    out, corpus, per_label = _score_trained_tasks(spec, prep.model, prep, torch.device("cpu"), rows)
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    assert all(len(r["cls_probs"]) == 14 and len(r["align_hits"]) == 6 for r in out)
    assert set(corpus) == {*ALIGN_KEYS, "CLS_AUROC_micro", "CLS_AUROC_macro", "CLS_F1_micro", "CLS_F1_macro"}
    assert corpus["ALIGN_R10_i2t"] == 1.0  # 8 test studies: every positive is within the top 10
    assert len(per_label) == 14
