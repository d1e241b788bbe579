"""Every backbone x task set: losses, parameter partition, causal masking, padding, decoding."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from mtlbench.backbones import BACKBONES, BackboneConfig
from mtlbench.backbones.decoding import _block_trigrams
from mtlbench.data.batch import Batch
from mtlbench.errors import MtlbenchError

NAMES = ("transformer", "r2gen", "cmn")
TASK_SETS = (("report", "cls"), ("report", "align"), ("report", "cls", "align"))
VOCAB = 20


class Words:
    """Decodes ids as w<id> up to the first 0, like the R2Gen tokenizer."""

    def decode(self, ids: Sequence[int]) -> str:
        out = []
        for i in ids:
            if i == 0:
                break
            out.append(f"w{i}")
        return " ".join(out)


def _model(name: str, tasks: tuple[str, ...] = ("report", "cls", "align"), **options):
    torch.manual_seed(0)
    settings = {"vocab_size": VOCAB, "max_len": 12, "tasks": tasks, "image_size": 32, "num_views": 2} | options
    return BACKBONES.get(name)(BackboneConfig(**settings), Words()).eval()


def _images(b: int, views: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, views, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _batch(tokens: torch.Tensor, mask: torch.Tensor, views: int = 2) -> Batch:
    b = tokens.shape[0]
    labels = torch.randint(0, 2, (b, 14), generator=torch.Generator().manual_seed(1)).float()
    return Batch(ids=tuple(map(str, range(b))), images=_images(b, views), tokens=tokens, mask=mask, labels=labels)


def _report_batch() -> Batch:
    tokens = torch.tensor([[0, 5, 6, 7, 0], [0, 8, 9, 0, 0], [0, 5, 6, 7, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.float)
    return _batch(tokens, mask)


@pytest.mark.parametrize("tasks", TASK_SETS, ids="+".join)
@pytest.mark.parametrize("name", NAMES)
def test_each_loss_reaches_only_the_trunk_and_its_own_head(name: str, tasks: tuple[str, ...]) -> None:
    model = _model(name, tasks).train()
    model.check_partition()
    losses = model(_report_batch())
    assert list(losses) == list(tasks)
    shared = {id(p) for p in model.shared_parameters()}
    reached_shared: set[int] = set()
    for task, loss in losses.items():
        assert loss.dim() == 0 and torch.isfinite(loss)
        params = list(model.parameters())
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        reached = {id(p) for p, g in zip(params, grads) if g is not None and bool(g.abs().sum() > 0)}
        own = {id(p) for p in model.task_parameters(task)}
        assert reached <= shared | own, f"{task} loss reaches another task's head"
        assert own <= reached, f"{task} loss leaves part of its own head untrained"
        reached_shared |= reached & shared
    assert reached_shared == shared, "some trunk parameters get no gradient from any task"
    assert model.representation is not None and model.representation.requires_grad


@pytest.mark.parametrize("name", NAMES)
def test_no_token_attends_to_the_future(name: str) -> None:
    model = _model(name)
    images = _images(1)
    a = torch.tensor([[0, 3, 4, 5, 6, 7]])
    b = torch.tensor([[0, 3, 4, 9, 9, 9]])
    la, lb = model.report_logits(images, a), model.report_logits(images, b)
    torch.testing.assert_close(la[:, :3], lb[:, :3])
    assert not torch.allclose(la[:, 3:], lb[:, 3:])


@pytest.mark.parametrize("name", NAMES)
def test_padding_does_not_change_any_loss(name: str) -> None:
    model = _model(name)
    batch = _report_batch()
    padded = _batch(
        torch.cat([batch.tokens, torch.zeros(3, 4, dtype=torch.long)], dim=1),
        torch.cat([batch.mask, torch.zeros(3, 4)], dim=1),
    )
    short, long = model(batch), model(padded)
    for task in short:
        torch.testing.assert_close(short[task], long[task])


def _greedy(model, images: torch.Tensor, block: bool) -> list[list[int]]:
    """Greedy decoding the slow way: full teacher-forced logits of the whole prefix at every step."""
    rows = []
    for i in range(images.shape[0]):
        tokens = torch.zeros(1, 1, dtype=torch.long)
        for _ in range(model.config.max_len):
            logprobs = torch.log_softmax(model.report_logits(images[i : i + 1], tokens)[:, -1], dim=-1)
            if block:
                logprobs = _block_trigrams(tokens, logprobs)
            nxt = int(logprobs.argmax())
            tokens = torch.cat([tokens, torch.tensor([[nxt]])], dim=1)
            if nxt == 0:
                break
        rows.append(tokens[0].tolist())
    return rows


@pytest.mark.parametrize("block", [False, True], ids=["plain", "trigram-blocking"])
@pytest.mark.parametrize("name", NAMES)
def test_beam_one_equals_greedy(name: str, block: bool) -> None:
    model = _model(name, beam_size=1, block_trigrams=block)
    images = _images(3, seed=2)
    got = model.generate_ids(images)
    for row, expected in zip(got.tolist(), _greedy(model, images, block)):
        assert row[: len(expected)] == expected
        assert all(t == 0 for t in row[len(expected) :])


@pytest.mark.parametrize("padded", [False, True], ids=["all-views", "padded-view"])
@pytest.mark.parametrize("name", NAMES)
def test_incremental_decoding_follows_reordered_hypotheses(name: str, padded: bool) -> None:
    """The decoding cache (keys/values, relational memory) re-indexed by ``order`` gives the
    same next-token distribution as decoding each final prefix from scratch, also when the
    study's second view slot is padding that the cross-attention must skip."""
    model = _model(name)
    view_mask = torch.tensor([[True, not padded]])
    visual, keep = model.encode(_images(1), view_mask)
    assert (keep is not None) == padded
    visual = visual.expand(4, -1, -1)
    keep = keep.expand(4, -1) if keep is not None else None
    head, respond = model.heads["report"], model._respond()
    g = torch.Generator().manual_seed(3)
    tokens = torch.zeros(4, 1, dtype=torch.long)
    order = torch.arange(4)
    cache: dict = {}
    for _ in range(5):
        out = head.next_logprobs(visual, tokens, order, cache, respond, keep)
        order = torch.randint(0, 4, (4,), generator=g)
        tokens = torch.cat([tokens[order], torch.randint(1, VOCAB, (4, 1), generator=g)], dim=1)
    out = head.next_logprobs(visual, tokens, order, cache, respond, keep)
    full = torch.log_softmax(head(visual, tokens, respond, keep)[:, -1], dim=-1)
    torch.testing.assert_close(out, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_generate_gives_text_per_study_within_max_len(name: str) -> None:
    model = _model(name, beam_size=3)
    texts = model.generate(_images(3))
    assert len(texts) == 3
    assert all(isinstance(t, str) and len(t.split()) <= 12 for t in texts)


@pytest.mark.parametrize("name", NAMES)
def test_single_view_studies_and_view_count_checks(name: str) -> None:
    model = _model(name, num_views=1)
    tokens, mask = torch.tensor([[0, 5, 6, 0]]), torch.ones(1, 4)
    losses = model(_batch(tokens, mask, views=1))
    assert set(losses) == {"report", "cls", "align"}
    with pytest.raises(MtlbenchError, match="1 to 1 views"):
        model(_batch(tokens, mask, views=2))


def test_multi_view_patches_are_concatenated_along_the_sequence() -> None:
    model = _model("transformer", num_views=2)
    one_view = _model("transformer", num_views=1)
    assert model.encode(_images(2))[0].shape[1] == 2 * one_view.encode(_images(2, views=1))[0].shape[1]


def test_task_sets_are_checked() -> None:
    with pytest.raises(MtlbenchError, match="without the 'report' task"):  # a single-task (stl) model
        _model("r2gen", ("cls",)).generate(_images(1))
    assert _model("cmn", ("cls",)).predict_labels(_images(1)).shape == (1, 14)
    with pytest.raises(MtlbenchError, match="no task"):
        _model("cmn", ("report", "retrieval"))
    with pytest.raises(MtlbenchError, match="twice"):
        _model("transformer", ("report", "cls", "cls"))
    with pytest.raises(MtlbenchError, match="without the 'cls' task"):
        _model("transformer", ("report", "align")).predict_labels(_images(1))
    with pytest.raises(MtlbenchError, match="unknown backbone size"):
        _model("transformer", size="huge")


def test_classification_head_reads_the_pooled_visual_features() -> None:
    model = _model("r2gen", ("report", "cls"))
    probs = model.predict_labels(_images(2))
    assert probs.shape == (2, 14) and bool(((probs > 0) & (probs < 1)).all())
    expected = torch.sigmoid(model.heads["cls"](model.encode(_images(2))[0].mean(dim=1)))
    torch.testing.assert_close(probs, expected)
