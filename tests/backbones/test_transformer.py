"""The CNN + Transformer backbone: task partition, causal masking, padding, generation."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mtlbench.backbones import BACKBONES, BackboneConfig
from mtlbench.data.batch import Batch


class Words:
    """Decodes ids as w<id> up to the first 0, like the R2Gen tokenizer."""

    def decode(self, ids: Sequence[int]) -> str:
        out = []
        for i in ids:
            if i == 0:
                break
            out.append(f"w{i}")
        return " ".join(out)


def _model(tasks: tuple[str, ...] = ("report", "cls")):
    torch.manual_seed(0)
    config = BackboneConfig(vocab_size=20, max_len=12, tasks=tasks, image_size=32, num_views=2)
    model = BACKBONES.get("transformer")(config, Words())
    return model.eval()


def _batch(tokens: torch.Tensor, mask: torch.Tensor) -> Batch:
    b = tokens.shape[0]
    g = torch.Generator().manual_seed(0)
    return Batch(
        ids=tuple(str(i) for i in range(b)),
        images=torch.randn(b, 2, 3, 32, 32, generator=g),
        tokens=tokens,
        mask=mask,
        labels=torch.randint(0, 2, (b, 14), generator=g).float(),
    )


def test_parameters_are_partitioned_between_trunk_and_heads() -> None:
    model = _model()
    model.check_partition()
    assert {id(p) for p in model.task_parameters("report")}.isdisjoint({id(p) for p in model.shared_parameters()})
    assert len(model.task_parameters("cls")) == 2


def test_no_token_attends_to_the_future() -> None:
    model = _model()
    memory = model.encode(_batch(torch.zeros(1, 6, dtype=torch.long), torch.ones(1, 6)).images)
    a = torch.tensor([[0, 3, 4, 5, 6, 7]])
    b = torch.tensor([[0, 3, 4, 9, 9, 9]])
    la, lb = model._logits(memory, a), model._logits(memory, b)
    torch.testing.assert_close(la[:, :3], lb[:, :3])
    assert not torch.allclose(la[:, 3:], lb[:, 3:])


def test_padding_does_not_change_the_loss() -> None:
    model = _model()
    tokens = torch.tensor([[0, 5, 6, 7, 0], [0, 8, 9, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], dtype=torch.float)
    padded_tokens = torch.cat([tokens, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(2, 3)], dim=1)
    short = model(_batch(tokens, mask))
    long = model(_batch(padded_tokens, padded_mask))
    torch.testing.assert_close(short["report"], long["report"])
    torch.testing.assert_close(short["cls"], long["cls"])


def test_generate_returns_text_per_study_within_max_len() -> None:
    model = _model()
    texts = model.generate(_batch(torch.zeros(3, 2, dtype=torch.long), torch.ones(3, 2)).images)
    assert len(texts) == 3
    assert all(isinstance(t, str) and len(t.split()) <= 12 for t in texts)


def test_only_configured_tasks_get_heads_and_losses() -> None:
    model = _model(tasks=("report",))
    losses = model(_batch(torch.tensor([[0, 5, 0]]), torch.ones(1, 3)))
    assert list(losses) == ["report"]
    model.check_partition()
