"""`mtlbench describe METHOD`: a method's reference, kind, hyper-parameters (defaults, ranges) and notes."""

from __future__ import annotations

import click
from tabulate import tabulate

from mtlbench.methods.describe import describe


@click.command("describe")
@click.argument("method")
def describe_command(method: str) -> None:
    """Show METHOD's paper and official code, its hyper-parameters with their defaults, allowed
    values and --tune ranges, and its documented conventions and deviations."""
    info = describe(method)
    aliases = f" (alias: {', '.join(info.aliases)})" if info.aliases else ""
    click.echo(f"{info.name}{aliases}")
    click.echo(f"  paper: {info.paper or '-'}")
    click.echo(f"  code:  {info.code or '-'}")
    click.echo(f"  kind:  {info.kind}")
    click.echo()
    if info.hyperparameters:
        click.echo(f"hyper-parameters (--param {info.name}.KEY=VALUE, or [params.{info.name}] in a grid file):")
        rows = [(h.name, repr(h.default), h.allowed or "-", h.tuned or "-") for h in info.hyperparameters]
        table = tabulate(rows, headers=("name", "default", "allowed", "--tune samples"), tablefmt="simple")
        click.echo("\n".join("  " + line for line in table.splitlines()))
    else:
        click.echo("no hyper-parameters")
    click.echo()
    click.echo(info.doc)
