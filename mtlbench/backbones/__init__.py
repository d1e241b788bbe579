"""Report-generation backbones; each returns one loss per task and declares its shared parameters."""

from mtlbench.backbones import cmn, r2gen, transformer  # noqa: F401  (register the built-ins)
from mtlbench.backbones.base import BACKBONES, TASKS, Backbone, BackboneConfig

__all__ = ["BACKBONES", "TASKS", "Backbone", "BackboneConfig"]
