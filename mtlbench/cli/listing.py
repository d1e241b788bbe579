"""`mtlbench list`: what the registries hold, plugins and broken plugins included."""

from __future__ import annotations

import click

from mtlbench.registry import Registry


def _registries() -> dict[str, Registry]:
    from mtlbench.backbones import BACKBONES
    from mtlbench.data import DATASETS
    from mtlbench.methods import METHODS
    from mtlbench.metrics import LABELERS, METRICS

    return {"methods": METHODS, "backbones": BACKBONES, "datasets": DATASETS, "metrics": METRICS, "labelers": LABELERS}


def _summary(obj: object) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


@click.command("list")
@click.argument("kind", type=click.Choice(["methods", "backbones", "datasets", "metrics", "labelers"]))
def list_command(kind: str) -> None:
    """List the registered METHODS, BACKBONES, DATASETS, METRICS or LABELERS (with aliases and plugins).

    `mtlbench describe METHOD` shows a method's hyper-parameters and reference."""
    registry = _registries()[kind]
    for name in registry.names():
        aliases = registry.aliases_of(name)
        alias_text = f" (alias: {', '.join(aliases)})" if aliases else ""
        click.echo(f"{name}{alias_text}  -  {_summary(registry.get(name))}")
    for failure in registry.failures():
        click.echo(f"BROKEN PLUGIN {failure}", err=True)
