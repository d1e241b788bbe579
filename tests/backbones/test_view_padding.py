"""Studies with any number of views: padded view slots change no loss, no generated report, no label.

The padding slots are filled with noise (not zeros) in these tests, so only the masking, not the
content of the padding, can make the results equal.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from torch import nn

from mtlbench.backbones import BACKBONES, BackboneConfig
from mtlbench.backbones.layers import MultiHeadAttention
from mtlbench.data.batch import Batch
from mtlbench.errors import DataError, MtlbenchError

NAMES = ("transformer", "r2gen", "cmn")
TASKS = ("report", "cls", "align")
VOCAB = 20
SIZE = 32


class Words:
    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(f"w{i}" for i in ids)


def _model(name: str, num_views: int, **options: object):
    torch.manual_seed(0)
    config = BackboneConfig(
        vocab_size=VOCAB, max_len=10, tasks=TASKS, image_size=SIZE, num_views=num_views, beam_size=3, **options
    )
    return BACKBONES.get(name)(config, Words()).eval()


def _same_weights(source: nn.Module, target: nn.Module) -> None:
    """Copy ``source`` into ``target``, which was built for fewer views: its per-view embeddings
    are the first ones of ``source``."""
    state = source.state_dict()
    views = target.patch_position.shape[0]
    state["patch_position"] = state["patch_position"][:views]
    target.load_state_dict(state)


def _no_dropout(model: nn.Module) -> nn.Module:
    """Dropout off, batch norm still in training mode: what differs between two train-mode
    forwards is then only what the extractor's batch statistics and the masks make of padding."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if isinstance(module, MultiHeadAttention):
            module.dropout = 0.0
    return model


def _views(counts: Sequence[int], slots: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images [B, slots, 3, S, S] with ``counts[i]`` real views for study i (the same pictures
    whatever ``slots`` is) and noise in the padding, plus the [B, slots] view mask."""
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(len(counts), max(counts), 3, SIZE, SIZE, generator=g)
    images = 3 * torch.randn(len(counts), slots, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed + 1))
    mask = torch.zeros(len(counts), slots, dtype=torch.bool)
    for row, n in enumerate(counts):
        images[row, :n] = real[row, :n]
        mask[row, :n] = True
    return images, mask


def _batch(images: torch.Tensor, view_mask: torch.Tensor | None) -> Batch:
    tokens = torch.tensor([[0, 5, 6, 7, 0], [0, 8, 9, 0, 0], [0, 5, 9, 7, 0]])[: images.shape[0]]
    mask = (tokens > 0).float()
    mask[:, 0] = 1.0
    mask[torch.arange(tokens.shape[0]), (tokens > 0).sum(1) + 1] = 1.0  # EOS
    labels = torch.randint(0, 2, (images.shape[0], 14), generator=torch.Generator().manual_seed(1)).float()
    ids = tuple(str(i) for i in range(images.shape[0]))
    return Batch(ids=ids, images=images, tokens=tokens, mask=mask, labels=labels, view_mask=view_mask)


@pytest.mark.parametrize("name", NAMES)
def test_one_real_view_padded_to_three_equals_the_study_alone(name: str) -> None:
    """Two single-image studies in 3 view slots give the losses, labels and beam-searched reports
    of the same studies fed to a one-view model with the same weights (view 0's embedding)."""
    padded_model = _model(name, num_views=3)
    single_model = _model(name, num_views=1)
    _same_weights(padded_model, single_model)
    images, view_mask = _views([1, 1], slots=3)
    padded, alone = _batch(images, view_mask), _batch(images[:, :1], None)

    for task, value in single_model(alone).items():
        torch.testing.assert_close(padded_model(padded)[task], value, rtol=1e-5, atol=1e-5, msg=task)
    torch.testing.assert_close(
        padded_model.predict_labels(images, view_mask), single_model.predict_labels(images[:, :1])
    )
    # Words decodes every id, EOS padding included: equal texts are equal id rows
    assert padded_model.generate(images, view_mask) == single_model.generate(images[:, :1])


@pytest.mark.parametrize("name", NAMES)
def test_more_padding_changes_no_loss_and_no_gradient_in_training(name: str) -> None:
    """Studies of 1, 2 and 3 views, padded to 3 or to 5 slots, in training mode (batch norm on
    the batch's statistics): identical losses and identical gradients on every parameter."""
    model = _no_dropout(_model(name, num_views=5).train())
    results = []
    for slots in (3, 5):
        images, view_mask = _views([1, 3, 2], slots=slots)
        losses = model(_batch(images, view_mask))
        model.zero_grad()
        sum(losses.values()).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append(({t: v.detach() for t, v in losses.items()}, grads))
    (losses3, grads3), (losses5, grads5) = results
    for task in TASKS:
        torch.testing.assert_close(losses5[task], losses3[task], rtol=1e-5, atol=1e-6, msg=task)
    assert grads3.keys() == grads5.keys()
    for param, grad in grads3.items():
        torch.testing.assert_close(grads5[param], grad, rtol=1e-4, atol=1e-6, msg=param)
    assert all(bool(torch.isfinite(g).all()) for g in grads5.values())
    unused = grads5["patch_position"][3:]  # slots 3 and 4 held padding only
    assert bool((unused == 0).all()) and bool(grads5["patch_position"][:3].abs().sum() > 0)


@pytest.mark.parametrize("name", NAMES)
def test_beam_search_of_a_mixed_batch_equals_each_study_alone(name: str) -> None:
    """A batch of studies with 1, 3 and 2 views writes, per study, the report that study gets alone
    in a batch of its own real views (the beams of a study never read another study's padding)."""
    model = _model(name, num_views=3)
    images, view_mask = _views([1, 3, 2], slots=3, seed=4)
    together = model.generate_ids(images, view_mask)
    for row, n in enumerate([1, 3, 2]):
        alone = model.generate_ids(images[row : row + 1, :n])
        length = alone.shape[1]
        assert together[row, :length].tolist() == alone[0].tolist()
        assert bool((together[row, length:] == 0).all())


def test_pooled_feature_is_the_mean_of_the_real_views_pooled_features() -> None:
    """Equal-size views: the pooled feature (``cls`` and ``align`` read it) averages the real views'
    patch means, as R2Gen averages each view's pooled vector; padded patches do not count."""
    from mtlbench.backbones.encoder_decoder import masked_mean

    model = _model("transformer", num_views=3)
    images, view_mask = _views([2], slots=3)
    visual, keep = model.encode(images, view_mask)
    per_view = visual.view(1, 3, model.patches_per_view, -1).mean(dim=2)
    torch.testing.assert_close(masked_mean(visual, keep), per_view[:, :2].mean(dim=1))
    assert keep is not None and keep.sum() == 2 * model.patches_per_view


def test_view_slots_and_masks_are_checked() -> None:
    model = _model("transformer", num_views=2)
    with pytest.raises(MtlbenchError, match=r"1 to 2 views, .*num_views=2"):
        model.encode(torch.zeros(1, 3, 3, SIZE, SIZE))
    with pytest.raises(DataError, match=r"view_mask must be a bool tensor of shape \(1, 2\)"):
        model.encode(torch.zeros(1, 2, 3, SIZE, SIZE), torch.ones(1, 2))
    with pytest.raises(DataError, match=r"rows \[1\] have no real view"):
        _batch(torch.zeros(2, 2, 3, SIZE, SIZE), torch.tensor([[True, False], [False, False]]))
    full = _batch(torch.zeros(2, 2, 3, SIZE, SIZE), None)
    assert full.view_mask is not None and bool(full.view_mask.all()) and full.view_mask.shape == (2, 2)
