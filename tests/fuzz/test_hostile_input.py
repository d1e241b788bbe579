"""Every reader, fed structured mutations of valid files: success, or one MtlbenchError line.

CI-sized and repeatable (derandomized, no example database); the long run of the same targets,
10,000+ inputs per reader, is benchmarks/reliability_fuzz.py (results in reliability.md).
"""

from __future__ import annotations

from pathlib import Path

import hostile
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = {"annotation": 30, "predictions": 40, "metrics": 15, "labels": 40, "grid": 50, "plugins": 30, "store": 12}
"""Inputs per reader in CI (about 25 s in all on 2 cores, Java's start excluded)."""
ACCEPTED = {"annotation": 5, "predictions": 3, "metrics": 15, "labels": 5, "grid": 5, "plugins": 1, "store": 3}
"""Inputs that must get past the parser, so that the fuzzing reaches what uses the parsed values."""


@pytest.mark.parametrize(
    "reader", [pytest.param(r, marks=pytest.mark.slow) if r == "store" else r for r in hostile.READERS]
)
def test_reader_either_succeeds_or_refuses_in_one_line(reader: str, tmp_path: Path) -> None:
    outcome = hostile.Outcome()
    target = hostile.make_target(reader, tmp_path)

    @settings(
        max_examples=EXAMPLES[reader],
        derandomize=True,  # repeatable in CI
        database=None,
        deadline=None,  # the machine is shared; time is the benchmark's business
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        target(outcome, data)

    run()
    assert outcome.accepted >= ACCEPTED[reader], hostile.describe(outcome)
