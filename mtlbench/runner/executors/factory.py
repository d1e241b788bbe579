"""``--executor NAME``: build an executor, with a clear message when its optional extra is missing."""

from __future__ import annotations

import importlib
from typing import Any

from mtlbench.errors import MtlbenchError
from mtlbench.runner.executors.base import Executor
from mtlbench.runner.executors.local import LocalExecutor

EXTRAS = {"ray": ("ray", "ray"), "slurm": ("submitit", "slurm")}
"""executor -> (module it needs, extra that installs it)."""


def make_executor(name: str, **options: Any) -> Executor:
    """The executor called ``name`` ("local", "ray" or "slurm") with its options."""
    if name == "local":
        return LocalExecutor(**options)
    if name not in EXTRAS:
        raise MtlbenchError(f"unknown executor {name!r}; choose local, ray or slurm")
    module, extra = EXTRAS[name]
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise MtlbenchError(f'--executor {name} needs {module} ({err}): pip install "mtlbench[{extra}]"') from None
    if name == "ray":
        from mtlbench.runner.executors.ray import RayExecutor

        return RayExecutor(**options)
    from mtlbench.runner.executors.slurm import SlurmExecutor

    return SlurmExecutor(**options)
