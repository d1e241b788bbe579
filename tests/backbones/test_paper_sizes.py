"""The paper configurations: published sizes, and one CPU training step on a batch of 2 at 224 px."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from mtlbench.backbones import BACKBONES, BackboneConfig
from mtlbench.backbones.memory import ConditionalLayerNorm
from mtlbench.backbones.visual import ResNet
from mtlbench.data.batch import Batch


class Words:
    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(str(i) for i in ids)


def _paper(name: str, tasks: tuple[str, ...]):
    torch.manual_seed(0)
    config = BackboneConfig(vocab_size=760, max_len=60, tasks=tasks, size="paper", image_size=224, num_views=1)
    return BACKBONES.get(name)(config, Words())


def _assert_published_transformer(model) -> None:
    assert isinstance(model.visual, ResNet) and model.visual.out_channels == 2048
    assert model.visual_projection[0].in_features == 2048 and model.visual_projection[0].out_features == 512
    assert model.visual_projection[2].p == 0.5  # R2Gen's drop_prob_lm
    decoder = model.heads["report"].decoder
    for stack in (model.encoder, decoder):
        assert len(stack.layers) == 3
        for layer in stack.layers:
            assert layer.self_attn.heads == 8 and layer.self_attn.d_k == 64
            assert layer.feed_forward.w_1.out_features == 512  # d_ff 512
    assert model.patches_per_view == 49  # 7 x 7 ResNet grid


@pytest.mark.slow
@pytest.mark.parametrize("name", ["transformer", "r2gen", "cmn"])
def test_paper_configuration_has_published_sizes_and_trains_one_step(name: str) -> None:
    model = _paper(name, ("report", "cls", "align")).train()
    _assert_published_transformer(model)
    norms = [n for layer in model.heads["report"].decoder.layers for n in layer.norms]
    if name == "r2gen":
        memory = model.heads["report"].memory
        assert (memory.slots, memory.d_model, memory.attn.heads) == (3, 512, 8)
        assert all(isinstance(n, ConditionalLayerNorm) for n in norms)
    else:
        assert model.heads["report"].memory is None
        assert not any(isinstance(n, ConditionalLayerNorm) for n in norms)
    if name == "cmn":
        assert model.memory.matrix.shape == (2048, 512)
        assert (model.memory.topk, model.memory.heads) == (32, 8)
    else:
        assert model.memory is None
    model.check_partition()

    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 760, (2, 40), generator=g)
    tokens[:, 0], tokens[1, 30:] = 0, 0
    mask = torch.ones(2, 40)
    mask[1, 31:] = 0
    batch = Batch(
        ids=("a", "b"),
        images=torch.randn(2, 1, 3, 224, 224, generator=g),
        tokens=tokens,
        mask=mask,
        labels=torch.randint(0, 2, (2, 14), generator=g).float(),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    losses = model(batch)
    assert set(losses) == {"report", "cls", "align"}
    sum(losses.values()).backward()
    before = model.heads["report"].logit.weight.detach().clone()
    optimizer.step()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert not torch.equal(before, model.heads["report"].logit.weight)
