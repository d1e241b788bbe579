"""``--executor NAME``: build an executor from the options it declares, with one line for a missing extra."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from mtlbench.errors import MtlbenchError
from mtlbench.runner.executors.base import Executor, ExecutorOption
from mtlbench.runner.executors.local import LocalExecutor
from mtlbench.runner.executors.ray import RayExecutor
from mtlbench.runner.executors.slurm import SlurmExecutor

EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor, "ray": RayExecutor, "slurm": SlurmExecutor}
"""Executor name -> class; each class imports its optional package only when it runs."""

EXTRAS = {"ray": ("ray", "ray"), "slurm": ("submitit", "slurm")}
"""executor -> (module it needs, extra that installs it)."""


def make_executor(name: str, *, results: Path = Path("results"), **options: Any) -> Executor:
    """The executor called ``name`` ("local", "ray" or "slurm") for the store ``results``.

    ``options``: the executor options given (None = not given). An option that another executor
    takes but this one does not is refused in one line that lists what this one takes.
    """
    cls = EXECUTORS.get(name)
    if cls is None:
        raise MtlbenchError(f"unknown executor {name!r}; choose {', '.join(EXECUTORS)}")
    given = {key: value for key, value in options.items() if value is not None}
    declared = {option.name: option for option in cls.options}
    stray = [option for option in executor_options() if option.name in given and option.name not in declared]
    if stray:
        flags = ", ".join(option.cli_flag for option in stray)
        takes = ", ".join(option.cli_flag for option in cls.options)
        raise MtlbenchError(f"{flags} do(es) not apply to --executor {name}; it takes {takes}")
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise MtlbenchError(f"unknown executor options {unknown}")
    if name in EXTRAS:
        module, extra = EXTRAS[name]
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise MtlbenchError(f'--executor {name} needs {module} ({err}): pip install "mtlbench[{extra}]"') from None
    return cls.from_options(results, **given)


def executor_options() -> list[ExecutorOption]:
    """Every executor's options, once each, the help naming the executors that take it."""
    merged: dict[str, tuple[ExecutorOption, list[str]]] = {}
    for executor, cls in EXECUTORS.items():
        for option in cls.options:
            known = merged.get(option.name)
            if known is not None and (known[0].type, known[0].cli_flag) != (option.type, option.cli_flag):
                raise TypeError(f"executor option {option.name} is declared twice with different types or flags")
            merged.setdefault(option.name, (option, []))[1].append(executor)
    return [
        ExecutorOption(option.name, option.type, f"{'/'.join(users)}: {option.help}", option.flag)
        for option, users in merged.values()
    ]
