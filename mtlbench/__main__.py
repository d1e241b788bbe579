"""`python -m mtlbench` is the `mtlbench` command."""

from mtlbench.cli import main

main()
