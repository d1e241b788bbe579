"""CNN + Transformer report generator: R2Gen without its relational memory.

The visual extractor and the Transformer encoder form the shared trunk; the report
decoder belongs to the ``report`` task and a linear head on pooled encoder features to
the ``cls`` task. Several views of a study are encoded separately and their patch
sequences concatenated (R2Gen concatenates the two views' features the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbench.backbones.base import BACKBONES, Backbone, BackboneConfig, Decoder
from mtlbench.backbones.decoding import beam_search
from mtlbench.data.batch import Batch


@dataclass(frozen=True)
class TransformerSize:
    """Width and depth of one size preset."""

    d_model: int
    heads: int
    encoder_layers: int
    decoder_layers: int
    ff_dim: int
    cnn_channels: tuple[int, ...]
    dropout: float = 0.1


SIZES: dict[str, TransformerSize] = {
    # trains on 2 CPU cores in minutes at 64 px
    "tiny": TransformerSize(
        d_model=128, heads=4, encoder_layers=1, decoder_layers=1, ff_dim=256, cnn_channels=(16, 32, 64, 128)
    ),
    # R2Gen's Transformer: d 512, 8 heads, 3 + 3 layers, ff 512 (the visual extractor stays the small CNN here)
    "paper": TransformerSize(
        d_model=512, heads=8, encoder_layers=3, decoder_layers=3, ff_dim=512, cnn_channels=(64, 128, 256, 512)
    ),
}


class SmallCNN(nn.Module):
    """A from-scratch visual extractor: strided conv blocks -> a grid of patch features."""

    def __init__(self, channels: tuple[int, ...], d_model: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in channels:
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.proj = nn.Linear(c_in, d_model)

    def forward(self, images: Tensor) -> Tensor:
        """[N, 3, H, W] -> [N, h*w, d_model]."""
        grid = self.body(images)
        return self.proj(grid.flatten(2).transpose(1, 2))


def causal_mask(length: int, device: torch.device) -> Tensor:
    """Boolean mask (True = blocked) that stops position t attending to positions after t."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(diagonal=1)


@BACKBONES.register("transformer", aliases=("cnn-transformer",))
class CNNTransformer(Backbone):
    """Visual extractor -> Transformer encoder -> Transformer decoder (LM) + classification head."""

    def __init__(self, config: BackboneConfig, decoder: Decoder) -> None:
        super().__init__(config, decoder)
        size = SIZES[config.size]
        d = size.d_model
        self.visual = SmallCNN(size.cnn_channels, d)
        self.view_embedding = nn.Parameter(torch.zeros(config.num_views, 1, d))
        grid = (config.image_size // 2 ** len(size.cnn_channels)) ** 2
        self.patch_position = nn.Parameter(torch.zeros(1, grid, d))
        encoder_layer = nn.TransformerEncoderLayer(d, size.heads, size.ff_dim, size.dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(encoder_layer, size.encoder_layers, enable_nested_tensor=False)
        self.heads: nn.ModuleDict = nn.ModuleDict()
        if "report" in config.tasks:
            decoder_layer = nn.TransformerDecoderLayer(d, size.heads, size.ff_dim, size.dropout, batch_first=True)
            self.heads["report"] = nn.ModuleDict(
                {
                    "embed": nn.Embedding(config.vocab_size, d),
                    "position": nn.Embedding(config.max_len + 1, d),
                    "decoder": nn.TransformerDecoder(decoder_layer, size.decoder_layers),
                    "out": nn.Linear(d, config.vocab_size),
                }
            )
        if "cls" in config.tasks:
            self.heads["cls"] = nn.Linear(d, config.num_labels)
        nn.init.normal_(self.view_embedding, std=0.02)
        nn.init.normal_(self.patch_position, std=0.02)

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("heads.")]

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.heads[task].parameters())

    def encode(self, images: Tensor) -> Tensor:
        """[B, V, 3, H, W] -> memory [B, V*h*w, d]."""
        b, v = images.shape[:2]
        patches = self.visual(images.flatten(0, 1)) + self.patch_position
        patches = patches.view(b, v, -1, patches.shape[-1]) + self.view_embedding[:v].unsqueeze(0)
        return self.encoder(patches.flatten(1, 2))

    def _logits(self, memory: Tensor, tokens: Tensor, pad_mask: Tensor | None = None) -> Tensor:
        head = self.heads["report"]
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = head["embed"](tokens) + head["position"](positions)
        x = head["decoder"](
            x,
            memory,
            tgt_mask=causal_mask(tokens.shape[1], tokens.device),
            tgt_key_padding_mask=pad_mask,
            tgt_is_causal=True,
        )
        return head["out"](x)

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        memory = self.encode(batch.images)
        self.representation = memory
        losses: dict[str, Tensor] = {}
        if "report" in self.tasks:
            inputs, targets = batch.tokens[:, :-1], batch.tokens[:, 1:]
            target_mask = batch.mask[:, 1:]
            logits = self._logits(memory, inputs, pad_mask=batch.mask[:, :-1] == 0)
            nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
            # R2Gen's LanguageModelCriterion: mean NLL over the real (non-padding) target tokens
            losses["report"] = (nll * target_mask).sum() / target_mask.sum().clamp_min(1)
        if "cls" in self.tasks:
            logits = self.heads["cls"](memory.mean(dim=1))
            losses["cls"] = F.binary_cross_entropy_with_logits(logits, batch.labels)
        return losses

    @torch.no_grad()
    def predict_labels(self, images: Tensor) -> Tensor:
        return torch.sigmoid(self.heads["cls"](self.encode(images).mean(dim=1)))

    @torch.no_grad()
    def generate(self, images: Tensor) -> list[str]:
        """Beam search (``config.beam_size``; 1 = greedy) with trigram blocking, batched, up to
        ``max_len`` tokens; returns the decoder's cleaned text of each report."""
        memory = self.encode(images)
        beams = self.config.beam_size
        memory = memory.repeat_interleave(beams, dim=0) if beams > 1 else memory

        def step(tokens: Tensor, order: Tensor) -> Tensor:
            return F.log_softmax(self._logits(memory, tokens)[:, -1], dim=-1)

        tokens = beam_search(step, images.shape[0], beam_size=beams, max_len=self.config.max_len, device=images.device)
        return [self.decoder.decode(row[1:].tolist()) for row in tokens]
