"""How a run reads its data: settings that change its speed, never its numbers (not in its run id)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mtlbench.errors import MtlbenchError

CUDA_LOADER_WORKERS = 4
"""Loader worker processes per run on CUDA when not chosen: enough to keep a GPU fed from the
image cache (the crops, flips and normalisation of a paper-size batch) without taking every core."""


@dataclass(frozen=True)
class LoadSettings:
    """``workers``: DataLoader worker processes per loader (None: 0 on CPU, where the run's one
    thread would compete with them, and :data:`CUDA_LOADER_WORKERS` on CUDA); ``image_cache``:
    read images through the shared preprocessed cache (``mtlbench.runner.image_cache``);
    ``pin_memory``: page-locked batches for asynchronous copies (None: on CUDA).

    The same batches reach the model in every combination (tested), so none of this enters a
    run's identity.
    """

    workers: int | None = None
    image_cache: bool = True
    pin_memory: bool | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and (isinstance(self.workers, bool) or self.workers < 0):
            raise MtlbenchError(f"--loader-workers must be 0 or more; got {self.workers}")

    def loader_workers(self, device: torch.device) -> int:
        if self.workers is not None:
            return self.workers
        return CUDA_LOADER_WORKERS if device.type == "cuda" else 0

    def pinned(self, device: torch.device) -> bool:
        return self.pin_memory if self.pin_memory is not None else device.type == "cuda"


DEFAULT_LOADING = LoadSettings()
