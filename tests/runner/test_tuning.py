"""The fair tuning budget: same trials for every method, chosen on validation only."""

from __future__ import annotations

from pathlib import Path

import pytest
from grid_cli import TINY_GRID, run_mtlbench

from mtlbench.errors import MtlbenchError
from mtlbench.results import iter_runs
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.tuning import LEARNING_RATE, apply_selection, plan_trials, trial_specs


def _specs(method: str, seeds: int = 3) -> list[RunSpec]:
    return [RunSpec(method=method, dataset="synthetic", seed=s) for s in range(seeds)]


def test_every_method_gets_the_same_budget_and_trial_zero_is_the_default() -> None:
    for method in ("ls", "pcgrad", "rlar"):
        trials = trial_specs(_specs(method)[0], 4)
        assert len(trials) == 4
        assert trials[0].method_params == () and trials[0].train.lr == RunSpec("x", "y", 0).train.lr
        assert [dict(t.tuning)["trial"] for t in trials] == [0, 1, 2, 3]
        for trial in trials[1:]:
            assert LEARNING_RATE.low <= trial.train.lr <= LEARNING_RATE.high
    assert dict(trial_specs(_specs("ls")[0], 2)[1].method_params) == {}  # ls: the learning rate only
    ls_trial = dict(trial_specs(_specs("ls-tuned")[0], 2)[1].method_params)
    assert ls_trial["weights"][0] == 1.0 and 0.1 <= ls_trial["weights"][1] <= 10.0  # tuned task weights


def test_trials_are_reproducible_and_independent_of_the_rest_of_the_grid() -> None:
    alone = plan_trials(_specs("rlar"), 3)
    mixed = plan_trials(_specs("ls") + _specs("rlar", seeds=5), 3)
    assert list(alone.values()) == [mixed[k] for k in alone]
    (group,) = alone.values()
    assert all(t.seed == 0 for t in group)  # trials run on the group's first seed


def test_selection_takes_the_best_validation_score_ties_to_the_earlier_trial_and_failures_keep_defaults() -> None:
    specs = _specs("rlar") + _specs("ls")
    trials = plan_trials(specs, 3)
    rlar_key, _ = list(trials)
    scores = {trials[rlar_key][0].run_id: 0.1, trials[rlar_key][1].run_id: 0.3, trials[rlar_key][2].run_id: 0.3}
    final = apply_selection(specs, trials, lambda t: scores.get(t.run_id))
    chosen = trials[rlar_key][1]
    for spec in final[:3]:
        assert spec.method_params == chosen.method_params and spec.train == chosen.train
        assert dict(spec.tuning) == {"budget": 3, "trial": 1}
        assert spec.label == "rlar"  # tuned rows keep the method's name
    assert final[0].run_id == chosen.run_id  # the chosen trial is the seed-0 final run itself
    assert all(dict(s.tuning)["trial"] == 0 for s in final[3:])  # every ls trial failed


def test_a_non_positive_budget_is_refused() -> None:
    with pytest.raises(MtlbenchError, match="positive number of trials"):
        trial_specs(_specs("ls")[0], 0)


@pytest.mark.slow
def test_tune_gives_every_method_the_same_trials_selects_on_validation_and_records_the_budget(
    cache_dir: Path, tmp_path: Path
) -> None:
    args = ["run", *TINY_GRID, "--methods", "ls,pcgrad", "--seeds", "1", "--epochs", "1", "--tune", "2"]
    args += ["--results", "res", "--no-leaderboard"]
    result = run_mtlbench(args, cache_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "tuning (2 trials per method): 6 runs" in result.stdout
    trials = list(iter_runs(tmp_path / "res" / "tuning"))
    assert sorted(t.spec["method"] for t in trials) == ["ls", "ls", "ls-tuned", "ls-tuned", "pcgrad", "pcgrad"]
    assert all(t.state == "done" and t.spec["tuning"]["budget"] == 2 for t in trials)
    finals = list(iter_runs(tmp_path / "res"))
    assert sorted(run.spec["method"] for run in finals) == ["ls", "ls-tuned", "pcgrad"]  # the tuned-weights row
    for run in finals:
        tuning = run.metrics()["tuning"]
        assert tuning["budget"] == tuning["trials"] == 2  # the budget is recorded with the results
        group = [t for t in trials if t.spec["method"] == run.spec["method"]]
        scores = [t.metrics()["val"]["BLEU_4"] for t in sorted(group, key=lambda t: t.spec["tuning"]["trial"])]
        assert tuning["trial"] == scores.index(max(scores))  # best on validation, ties to the earlier trial
        assert run.run_id in {t.run_id for t in group}  # the chosen trial is the final run, not rerun
