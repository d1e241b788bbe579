"""Options that several commands share, defined once so their names and help agree."""

from __future__ import annotations

from pathlib import Path

import click

models_dir_option = click.option(
    "--models-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of the model-based metrics' local weights (default $MTLBENCH_MODELS; never downloaded, "
    "never part of a run id).",
)
