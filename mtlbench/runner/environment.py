"""What a run ran on: versions, code revision and device, recorded with every run."""

from __future__ import annotations

import os
import platform
import random
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

KEY_PACKAGES = ("mtlbench", "torch", "numpy", "scipy", "pandas", "pycocoevalcap", "pillow")


def describe_environment(device: torch.device) -> dict[str, Any]:
    """Versions of Python, torch and the key packages, the code revision and the device: a
    result is only repeatable on the same ones, so each run records them."""
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "code_revision": code_revision(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "torch_threads": torch.get_num_threads(),
    }


def code_revision() -> str | None:
    """The git commit of the mtlbench source tree (with '+dirty' if modified), when it is a checkout."""
    source = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no", "mtlbench"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


def seed_everything(seed: int) -> None:
    """Fix Python, NumPy and torch RNGs and ask torch for deterministic algorithms where it has them.

    ``warn_only``: an operation without a deterministic version warns instead of failing the
    run. cuBLAS needs its workspace setting before its first use to be deterministic on CUDA.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def pick_device(requested: str | None) -> torch.device:
    """CUDA when present (unless told otherwise), else CPU."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
