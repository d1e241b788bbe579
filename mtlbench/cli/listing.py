"""`mtlbench list`: what the registries hold, plugins and broken plugins included."""

from __future__ import annotations

import click

from mtlbench.metrics.local_models import MODELS_ENV
from mtlbench.registry import Registry


def _registries() -> dict[str, Registry]:
    from mtlbench.backbones import BACKBONES
    from mtlbench.data import DATASETS
    from mtlbench.methods import METHODS
    from mtlbench.metrics import METRICS

    return {"methods": METHODS, "backbones": BACKBONES, "datasets": DATASETS, "metrics": METRICS}


def _metric_status() -> dict[str, str | None]:
    from mtlbench.metrics import family_status

    return family_status()


def _summary(obj: object) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


@click.command("list")
@click.argument("kind", type=click.Choice(["methods", "backbones", "datasets", "metrics"]))
def list_command(kind: str) -> None:
    """List the registered METHODS, BACKBONES, DATASETS or METRICS (with aliases)."""
    registry = _registries()[kind]
    status = _metric_status() if kind == "metrics" else {}
    for name in registry.names():
        aliases = registry.aliases_of(name)
        alias_text = f" (alias: {', '.join(aliases)})" if aliases else ""
        click.echo(f"{name}{alias_text}  -  {_summary(registry.get(name))}")
        if status.get(name):
            click.echo(f"    not available here: {status[name]}")
    if status:
        click.echo(f"\nModel weights are read from ${MODELS_ENV} (or `mtlbench eval --models-dir`), never downloaded.")
    for failure in registry.failures():
        click.echo(f"BROKEN PLUGIN {failure}", err=True)
