"""Model-based metrics in grid runs (``eval.metrics``) and ``mtlbench rescore`` of finished runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mtlbench.cli import cli
from mtlbench.errors import MtlbenchError, UnknownNameError
from mtlbench.metrics.config import EvalConfig
from mtlbench.results import CONFIG, DONE, EXAMPLES, METRICS, STATUS, iter_runs, read_json, read_jsonl
from mtlbench.runner import rescore
from mtlbench.runner.grid import GridSpec, expand
from mtlbench.runner.run_one import run_one
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore
from mtlbench.train.config import TrainConfig

SIZES = (("n_test", 8), ("n_train", 24), ("n_val", 8))
GREEDY = (("beam_size", 1),)


def test_extra_metrics_join_the_run_id_only_when_given() -> None:
    plain = RunSpec("ls", "synthetic", 0)
    assert "metrics" not in plain.to_dict()["eval"]  # so every earlier run id stays valid
    named = RunSpec("ls", "synthetic", 0, eval=EvalConfig(metrics=("radgraph", "bertscore")))
    assert named.run_id == RunSpec("ls", "synthetic", 0, eval=EvalConfig(metrics="bertscore, radgraph")).run_id
    assert named.run_id != plain.run_id and RunSpec.from_dict(named.to_dict()) == named
    (spec, *_) = expand(GridSpec(seeds=(0,), eval=EvalConfig(metrics=("bertscore-radcliq", "bertscore"))))
    assert spec.eval.metrics == ("bertscore", "bertscore-radcliq")
    with pytest.raises(MtlbenchError, match="computes bleu, meteor"):
        expand(GridSpec(eval=EvalConfig(metrics=("bleu",))))
    with pytest.raises(UnknownNameError):
        expand(GridSpec(eval=EvalConfig(metrics=("bertscroe",))))


def test_a_grid_whose_extra_metrics_cannot_run_stops_before_any_run(tmp_path: Path) -> None:
    results = tmp_path / "res"
    args = ["run", "--eval-metrics", "bertscore", "--models-dir", str(tmp_path), "--results", str(results)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and "eval.metrics bertscore: BERTScore (RadEval): missing" in result.output
    assert "distilbert-base-uncased" in result.output and not results.exists()


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tiny BERTScore models of both conventions, in a models folder."""
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "metrics"))
    import tiny_models

    folder = tmp_path / "models"
    bert = tiny_models.distilbert(folder / "distilbert-base-uncased")
    (bert / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 64}))  # its position embeddings
    tiny_models.distilroberta(folder / "distilroberta-base")
    return folder


def _files(run: Path) -> dict[str, str]:
    return {name: (run / name).read_text() for name in (CONFIG, STATUS, EXAMPLES, METRICS)}


@pytest.mark.slow
def test_a_run_computes_its_extra_metrics_and_rescore_adds_more_resumably(
    tmp_path: Path, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "res"
    evaluation = EvalConfig(meteor=False, metrics=("bertscore",))
    quick = TrainConfig(epochs=1, batch_size=8, monitor="loss")  # no generation on the validation split
    spec = RunSpec("ls", "synthetic", 0, data_options=SIZES, backbone_options=GREEDY, train=quick, eval=evaluation)
    assert run_one(spec, results, models_dir=models) == DONE
    run = ResultStore(results).path(spec.run_id)
    rows, metrics = read_jsonl(run / EXAMPLES), read_json(run / METRICS)
    scores = [row["stats"]["bertscore"] for row in rows]
    assert len(scores) == 8 and metrics["test"]["BERTScore"] == pytest.approx(np.mean(scores))
    assert metrics["eval"]["metrics"] == ["bertscore"] and "BLEU_4" in metrics["test"]

    failed = RunSpec("pcgrad", "synthetic", 0, data_options=SIZES)
    ResultStore(results).register([failed])
    ResultStore(results).fail(failed, RuntimeError("diverged"))
    classifier = RunSpec("stl", "synthetic", 0, data_options=SIZES, method_params=(("task", "cls"),))
    ResultStore(results).register([classifier])
    ResultStore(results).finish(classifier, {"test": {}}, [])  # a done single-task run of the cls task
    before = _files(run)

    def crash(path: Path, obj: object) -> None:  # killed between the two writes of a run
        raise KeyboardInterrupt

    monkeypatch.setattr(rescore, "atomic_write_json", crash)
    paths = rescore.ModelPaths(root=models)
    with pytest.raises(KeyboardInterrupt):
        rescore.rescore_store(results, ["bertscore-radcliq"], paths)
    assert read_json(run / METRICS) == metrics  # metrics.json untouched: the run counts as not rescored
    monkeypatch.undo()

    invoke = ["rescore", str(results), "--metrics", "bertscore-radcliq", "--models-dir", str(models)]
    result = CliRunner().invoke(cli, invoke)
    assert result.exit_code == 0, result.output
    assert f"{spec.run_id} ls synthetic seed 0: added: BERTScore_RadCliQ " in result.output
    assert f"{failed.run_id} pcgrad synthetic seed 0: refused: it is failed, not done" in result.output
    assert f"{classifier.run_id} stl synthetic seed 0: no reports: a single-task model of another task" in result.output
    assert "1 runs rescored, 0 already had them, 1 write no reports (single-task), 1 refused" in result.output
    after = _files(run)
    assert after[CONFIG] == before[CONFIG] and after[STATUS] == before[STATUS]  # the run's identity is unchanged
    rows, rescored = read_jsonl(run / EXAMPLES), read_json(run / METRICS)
    added = [row["stats"]["bertscore_radcliq"] for row in rows]
    assert [row["stats"]["bertscore"] for row in rows] == scores
    assert rescored["test"]["BERTScore_RadCliQ"] == pytest.approx(np.mean(added))
    assert rescored["test"]["BERTScore"] == metrics["test"]["BERTScore"]
    assert rescored["eval"]["added_metrics"] == ["bertscore-radcliq"] and [r.run_id for r in iter_runs(results)]

    again = CliRunner().invoke(cli, invoke)
    assert "already scored: bertscore-radcliq" in again.output and _files(run) == after
    refused = CliRunner().invoke(cli, ["rescore", str(results), "--metrics", "ce"])
    assert refused.exit_code != 0 and "computes" in refused.output and json.loads(after[METRICS]) == rescored
