"""`mtlbench data`: check a dataset folder, or write the synthetic set to disk."""

from __future__ import annotations

from pathlib import Path

import click

from mtlbench.data import DATASETS, check_dataset
from mtlbench.data.synthetic import SyntheticConfig, generate


@click.group("data")
def data_group() -> None:
    """Inspect and prepare datasets."""


@data_group.command("check")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Dataset name for messages (default: the folder's name).")
@click.option("--open-images", is_flag=True, help="Also decode every image (slow on MIMIC-CXR).")
@click.option(
    "--labels-csv",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="MIMIC-CXR-JPG chexpert/negbio CSV to join on study_id, as --data-opt mimic.labels_csv does.",
)
def check_command(folder: Path, name: str | None, open_images: bool, labels_csv: Path | None) -> None:
    """Validate FOLDER (annotation.json + images/) as training would, and summarise it.

    Exits non-zero when training would refuse the dataset.
    """
    label = DATASETS.canonical(name) if name and name in DATASETS.names() else (name or folder.name)
    report = check_dataset(folder, name=label, open_images=open_images, labels_csv=labels_csv)
    click.echo(report.format())
    if not report.ok:
        raise SystemExit(1)


@data_group.command("synth")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=SyntheticConfig.seed, show_default=True)
@click.option("--n-train", type=int, default=SyntheticConfig.n_train, show_default=True)
@click.option("--n-val", type=int, default=SyntheticConfig.n_val, show_default=True)
@click.option("--n-test", type=int, default=SyntheticConfig.n_test, show_default=True)
@click.option("--image-size", type=int, default=SyntheticConfig.image_size, show_default=True)
@click.option(
    "--label-noise",
    type=float,
    default=SyntheticConfig.label_noise,
    show_default=True,
    help="Chance that the report disagrees with the images on a finding.",
)
@click.option(
    "--uncertain-rate",
    type=float,
    default=SyntheticConfig.uncertain_rate,
    show_default=True,
    help="Share of reported findings the reader hedges on.",
)
def synth_command(
    folder: Path,
    seed: int,
    n_train: int,
    n_val: int,
    n_test: int,
    image_size: int,
    label_noise: float,
    uncertain_rate: float,
) -> None:
    """Write the synthetic chest X-ray set into FOLDER in IU X-Ray's layout.

    The benchmark generates it by itself on first use; this command is for looking at it or
    using it with other tools.
    """
    config = SyntheticConfig(
        seed=seed,
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        image_size=image_size,
        label_noise=label_noise,
        uncertain_rate=uncertain_rate,
    )
    generate(folder, config)
    click.echo(f"wrote {n_train + n_val + n_test} studies to {folder} (annotation.json + images/)")
