"""The mtlbench command line: thin commands that parse, call the library and print."""

from __future__ import annotations

import click

from mtlbench import __version__
from mtlbench.cli.data import data_group
from mtlbench.cli.describe import describe_command
from mtlbench.cli.eval import eval_command
from mtlbench.cli.listing import list_command
from mtlbench.cli.plan import plan_command
from mtlbench.cli.report import report_command
from mtlbench.cli.rescore import rescore_command
from mtlbench.cli.run import run_command
from mtlbench.cli.show import show_command
from mtlbench.cli.status import status_command
from mtlbench.errors import MtlbenchError


class _Group(click.Group):
    """Turns the library's user errors into one clean line and a non-zero exit, no traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MtlbenchError as err:  # text from a user's file may hold what a terminal cannot print
            raise click.ClickException(str(err).encode("utf-8", "backslashreplace").decode("utf-8")) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mtlbench")
def cli() -> None:
    """Benchmark multi-task gradient methods for radiology report generation.

    \b
    Start here:
      mtlbench run                      the default grid on the embedded synthetic data
      mtlbench run --methods all --datasets mimic,iu --seeds 5
      mtlbench report results/          significance-tested leaderboards of a result store
      mtlbench rescore results/ --metrics bertscore   add metrics to finished runs
      mtlbench plan results/            seeds and test examples needed, from a pilot store
      mtlbench list methods             what can be benchmarked (plugins included)
      mtlbench describe cagrad          a method's reference, hyper-parameters and ranges
    """


for command in (
    list_command,
    describe_command,
    run_command,
    status_command,
    show_command,
    report_command,
    plan_command,
    eval_command,
    rescore_command,
    data_group,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="mtlbench")
