"""The one encoder-decoder core behind ``transformer``, ``r2gen`` and ``cmn``.

Shared trunk: visual extractor -> visual projection (R2Gen's ``att_embed``: Linear, ReLU,
dropout) -> [R2GenCMN: + cross-modal memory response, + sinusoidal positions] -> Transformer
encoder. Its output, the encoded patch sequence, is ``representation``; every head reads it:

* ``report``: the Transformer decoder (with R2Gen's relational memory and MCLN for ``r2gen``),
  trained with R2Gen's language-model loss (mean NLL over real target tokens);
* ``cls``: a linear layer on the pooled visual features, binary cross-entropy over the 14
  CheXpert labels; the targets come with the batch, already binarised under the run's explicit
  uncertain policy (``TrainConfig.cls_uncertain``: U-Ones "positive" by default, or "negative";
  blank counts as negative);
* ``align``: image-report contrastive InfoNCE with a learnable temperature.

Views. A study has any number of images, up to the ``config.num_views`` V the model is built
for (IU X-Ray: 1 to 5; MIMIC-CXR: 1). A batch carries V' <= V view slots per study and
``view_mask`` [B, V'] marks the real ones; the other slots are padding. Fusion, as R2Gen's
(which concatenates exactly two views):

* each real view goes through the extractor and projection on its own (padding never reaches
  the extractor, so it cannot shift batch-norm statistics either), gets the learned embedding of
  its slot (tiny size: ``patch_position`` [V, patches, d], slot i always embedding i), and
  [R2GenCMN] queries the cross-modal memory with its own patches only;
* the views' patch sequences are concatenated along the sequence (slot i at positions
  i * patches ..), padded slots as zero rows;
* the patches of padded slots are masked as keys in the encoder's self-attention and in every
  decoder layer's cross-attention (training, teacher forcing and beam search alike), and left
  out of the pooled feature read by the ``cls`` and ``align`` heads: the mean over the real
  views' patches, i.e. the average of the real views' pooled features (R2Gen concatenates the
  pooled vectors, which its decoder never reads; averaging keeps the heads independent of the
  view count).

So a study's losses and reports do not depend on how much padding its batch adds (tested).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbench.backbones.base import TASKS, Backbone, BackboneConfig, Decoder
from mtlbench.backbones.decoding import beam_search
from mtlbench.backbones.heads import AlignmentHead, ReportHead, Respond
from mtlbench.backbones.layers import Encoder, PositionalEncoding, key_mask, xavier_init
from mtlbench.backbones.memory import CrossModalMemory
from mtlbench.backbones.sizes import get_size
from mtlbench.backbones.visual import build_extractor
from mtlbench.data.batch import Batch, check_view_mask
from mtlbench.errors import MtlbenchError


def masked_mean(visual: Tensor, keep: Tensor | None) -> Tensor:
    """[B, d]: the mean of ``visual`` [B, T, d] over the patches ``keep`` [B, T] marks real (None: all)."""
    if keep is None:
        return visual.mean(dim=1)
    weights = keep.unsqueeze(-1).to(visual.dtype)
    return (visual * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1)


def grid_side(image_size: int, halvings: int) -> int:
    """Side of the feature grid after ``halvings`` stride-2 stages (each rounds up, as padded convs do)."""
    side = image_size
    for _ in range(halvings):
        side = (side + 1) // 2
    return side


class EncoderDecoderBackbone(Backbone):
    """Visual encoder + report decoder + optional classification and alignment heads.

    Subclasses choose the memory variants; everything else is this one implementation.
    """

    relational_memory: ClassVar[bool] = False
    """R2Gen: relational memory + memory-driven conditional layer norm in the decoder."""
    cross_modal_memory: ClassVar[bool] = False
    """R2GenCMN: a shared memory matrix queried by visual patches and by word embeddings."""
    visual_sinusoids: ClassVar[bool] = False
    """R2GenCMN adds sinusoidal positions to the visual sequence (its ``src_embed``); R2Gen does not."""

    @classmethod
    def supported_tasks(cls) -> tuple[str, ...]:
        return TASKS

    def __init__(self, config: BackboneConfig, decoder: Decoder) -> None:
        super().__init__(config, decoder)
        if not config.tasks:
            raise MtlbenchError("a backbone needs at least one task: report, cls or align")
        if config.num_views < 1 or config.beam_size < 1 or config.max_len < 1:
            raise MtlbenchError("num_views, beam_size and max_len must each be at least 1")
        size = get_size(config.size)
        self.size = size
        d = size.d_model
        self.visual = build_extractor(
            config.extractor or size.extractor, cnn_channels=size.cnn_channels, weights=config.extractor_weights
        )
        if config.feature_cache and not config.freeze_extractor:
            raise MtlbenchError(
                "backbone option feature_cache needs freeze_extractor=true: cached features are those of a "
                "frozen extractor"
            )
        if config.freeze_extractor:
            self.visual.requires_grad_(False)
            self.visual.eval()
        halvings = self.visual.stride.bit_length() - 1
        if config.image_size < self.visual.stride:
            raise MtlbenchError(f"image_size {config.image_size} is below the extractor's stride {self.visual.stride}")
        self.patches_per_view = grid_side(config.image_size, halvings) ** 2
        self.visual_projection = nn.Sequential(
            nn.Linear(self.visual.out_channels, d), nn.ReLU(), nn.Dropout(size.visual_dropout)
        )
        self.patch_position = (
            nn.Parameter(0.02 * torch.randn(config.num_views, self.patches_per_view, d))
            if size.patch_positions
            else None
        )
        self.memory = CrossModalMemory(size.cmm_size, d, size.heads, size.cmm_topk) if self.cross_modal_memory else None
        visual_length = max(1024, config.num_views * self.patches_per_view)  # every view's patches get a position
        self.visual_position = PositionalEncoding(d, size.dropout, visual_length) if self.visual_sinusoids else None
        self.encoder = Encoder(d, size.heads, size.d_ff, size.dropout, size.layers)
        xavier_init(self.encoder)
        self.heads = nn.ModuleDict()
        if "report" in config.tasks:  # a cls- or align-only model (a single-task baseline) writes no report
            self.heads["report"] = ReportHead(config.vocab_size, size, relational=self.relational_memory)
        if "cls" in config.tasks:
            self.heads["cls"] = nn.Linear(d, config.num_labels)
        if "align" in config.tasks:
            self.heads["align"] = AlignmentHead(config.vocab_size, size)

    # --- parameter partition -------------------------------------------------------------------

    def shared_parameters(self) -> list[nn.Parameter]:
        """The trunk: extractor, projection, positions, cross-modal memory, encoder."""
        return [p for name, p in self.named_parameters() if not name.startswith("heads.")]

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        if task not in self.heads:
            raise MtlbenchError(f"{type(self).__name__} was built without task {task!r}; its tasks: {self.tasks}")
        return list(self.heads[task].parameters())

    # --- shared trunk --------------------------------------------------------------------------

    def _respond(self) -> Respond | None:
        return self.memory.respond if self.memory is not None else None

    def encode(self, images: Tensor, view_mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """[B, V', 3, H, W] (V' <= num_views slots, ``view_mask`` [B, V'] True over real views, None
        = all real) -> (encoded patches [B, V' * h * w, d], the views' sequences concatenated;
        [B, V' * h * w] bool mask of the real patches, or None when every slot is real)."""
        b, v = self._check_views(images, view_mask)
        masked = view_mask is not None and not bool(view_mask.all())
        if masked:
            rows, cols = view_mask.nonzero(as_tuple=True)
            real, slot = images[rows, cols], cols
        else:
            real, slot = images.flatten(0, 1), torch.arange(v, device=images.device).repeat(b)
        patches = self.visual_projection(self.features(real).flatten(2).transpose(1, 2))  # [N real views, P, d]
        n_patches, d = patches.shape[1:]
        if self.patch_position is not None:
            if n_patches != self.patches_per_view:
                raise MtlbenchError(
                    f"images of {tuple(images.shape[-2:])} px give {n_patches} patches per view; the model "
                    f"was built for image_size {self.config.image_size} ({self.patches_per_view} patches)"
                )
            patches = patches + self.patch_position[slot]
        if masked:
            if self.memory is not None:  # each real patch queries the memory; padding asks nothing
                patches = patches + self.memory.respond(patches)
            x = patches.new_zeros(b, v, n_patches, d).index_put((rows, cols), patches).flatten(1, 2)
            keep = view_mask.repeat_interleave(n_patches, dim=1)
        else:  # the memory's answer is row by row: [B, V * P] rows are the same numbers (and dropout draws)
            x, keep = patches.reshape(b, v * n_patches, d), None
            if self.memory is not None:
                x = x + self.memory.respond(x)
        if self.visual_position is not None:
            x = self.visual_position(x)
        return self.encoder(x, key_mask(keep)), keep

    def features(self, images: Tensor) -> Tensor:
        """[N, C, h, w] extractor features of ``images`` [N, 3, H, W]; with ``feature_cache`` the
        inputs already are those features. A frozen extractor runs without building a graph."""
        if self.config.feature_cache:
            return images
        if self.config.freeze_extractor:
            with torch.no_grad():
                return self.visual(images)
        return self.visual(images)

    def train(self, mode: bool = True) -> EncoderDecoderBackbone:
        """As ``nn.Module.train``, except that a frozen extractor stays in eval mode."""
        super().train(mode)
        if self.config.freeze_extractor:
            self.visual.eval()
        return self

    def _check_views(self, images: Tensor, view_mask: Tensor | None) -> tuple[int, int]:
        most = self.config.num_views
        if images.dim() != 5 or not 1 <= images.shape[1] <= most:
            raise MtlbenchError(
                f"images of shape {tuple(images.shape)}: expected [batch, 1 to {most} views, C, H, W] "
                f"(the model was built for num_views={most})"
            )
        if view_mask is not None:
            check_view_mask(view_mask, images)
        return images.shape[0], images.shape[1]

    # --- tasks ---------------------------------------------------------------------------------

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        visual, keep = self.encode(batch.images, batch.view_mask)
        self.representation = visual
        pooled = masked_mean(visual, keep)
        losses: dict[str, Tensor] = {}
        for task in self.tasks:
            if task == "report":
                losses[task] = self._report_loss(visual, keep, batch.tokens, batch.mask)
            elif task == "cls":
                losses[task] = F.binary_cross_entropy_with_logits(self.heads["cls"](pooled), batch.labels)
            else:
                losses[task] = self.heads["align"](pooled, batch.tokens, batch.mask)
        return losses

    def _report_loss(self, visual: Tensor, keep: Tensor | None, tokens: Tensor, mask: Tensor) -> Tensor:
        """R2Gen's LanguageModelCriterion: mean NLL of the real (non-padding) target tokens."""
        logits = self.heads["report"](visual, tokens[:, :-1], self._respond(), keep)
        nll = F.cross_entropy(logits.transpose(1, 2).float(), tokens[:, 1:], reduction="none")
        target_mask = mask[:, 1:]
        return (nll * target_mask).sum() / target_mask.sum().clamp_min(1)

    def report_logits(self, images: Tensor, tokens: Tensor, view_mask: Tensor | None = None) -> Tensor:
        """[B, T, vocab] next-token logits for every prefix of ``tokens`` (teacher forcing)."""
        visual, keep = self.encode(images, view_mask)
        return self.heads["report"](visual, tokens, self._respond(), keep)

    @torch.no_grad()
    def predict_labels(self, images: Tensor, view_mask: Tensor | None = None) -> Tensor:
        if "cls" not in self.heads:
            raise MtlbenchError(f"{type(self).__name__} was built without the 'cls' task; add it to --tasks")
        return torch.sigmoid(self.heads["cls"](masked_mean(*self.encode(images, view_mask))))

    def embed_pairs(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """([B, align_dim] image embeddings, [B, align_dim] report embeddings), unit vectors of the align head."""
        if "align" not in self.heads:
            raise MtlbenchError(f"{type(self).__name__} was built without the 'align' task; add it to --tasks")
        head: AlignmentHead = self.heads["align"]  # type: ignore[assignment]
        pooled = masked_mean(*self.encode(batch.images, batch.view_mask))
        return head.embed_images(pooled), head.embed_reports(batch.tokens, batch.mask)

    @torch.no_grad()
    def generate_ids(self, images: Tensor, view_mask: Tensor | None = None) -> Tensor:
        """[B, <= max_len + 1] token ids (BOS first, 0-padded after EOS) by batched beam search."""
        visual, keep = self.encode(images, view_mask)
        beams = self.config.beam_size
        if beams > 1:
            visual = visual.repeat_interleave(beams, dim=0)
            keep = keep.repeat_interleave(beams, dim=0) if keep is not None else None
        if "report" not in self.heads:
            raise MtlbenchError(f"{type(self).__name__} was built without the 'report' task: it writes no report")
        head: ReportHead = self.heads["report"]  # type: ignore[assignment]
        respond = self._respond()
        cache: dict = {}

        def step(tokens: Tensor, order: Tensor) -> Tensor:
            return head.next_logprobs(visual, tokens, order, cache, respond, keep)

        return beam_search(
            step,
            images.shape[0],
            beam_size=beams,
            max_len=self.config.max_len,
            device=images.device,
            block_trigrams=self.config.block_trigrams,
        )

    @torch.no_grad()
    def generate(self, images: Tensor, view_mask: Tensor | None = None) -> list[str]:
        """Cleaned report text per study (beam ``config.beam_size``, trigram blocking, ``max_len`` tokens)."""
        return [self.decoder.decode(row[1:].tolist()) for row in self.generate_ids(images, view_mask)]
