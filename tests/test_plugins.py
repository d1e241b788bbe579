"""Third-party plugins installed with pip: methods are listed and run in a grid, a stateful one resumes
exactly after a kill, a broken one is reported, and an LLM-judged metric (GREEN-style,
tests/plugins/judge_plugin) scores reports with the user's judge."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from runner.grid_cli import ended, on_first_checkpoint, send_frozen, training_logs

from mtlbench.results import iter_runs

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugins pip-installed into a private folder (the test venv stays untouched)."""
    target = tmp_path_factory.mktemp("site")
    sources = tmp_path_factory.mktemp("plugin-sources")  # pip builds in the source folder: keep tests/ clean
    for name in ("example_plugin", "broken_plugin", "judge_plugin"):
        shutil.copytree(PLUGINS / name, sources / name, ignore=shutil.ignore_patterns("build", "*.egg-info"))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "--target",
                str(target),
                str(sources / name),
            ],
            check=True,
        )
    return target


def _env(site: Path, tmp_path: Path, **extra_env: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(site), MTLBENCH_CACHE=str(tmp_path / "cache")) | extra_env
    for name in ("MTLBENCH_JUDGE", "MTLBENCH_JUDGE_MODEL", "MTLBENCH_MODELS"):
        if name not in extra_env:
            env.pop(name, None)
    return env


def _mtlbench(args: list[str], site: Path, tmp_path: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mtlbench", *args],
        capture_output=True,
        text=True,
        env=_env(site, tmp_path, **extra_env),
        cwd=tmp_path,
    )


def test_installed_plugin_is_listed_and_broken_plugin_reported(plugin_path: Path, tmp_path: Path) -> None:
    result = _mtlbench(["list", "methods"], plugin_path, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "unit-sum" in result.stdout
    assert "pcgrad" in result.stdout
    assert "BROKEN PLUGIN broken-method" in result.stderr
    assert "mtlbench_dependency_that_is_not_installed" in result.stderr


GRID = [
    "run", "--methods", "running-mean-norms,unit-sum", "--seeds", "1", "--epochs", "4", "--batch-size", "8",
    "--no-meteor", "--workers", "1", "--no-leaderboard",
    "--data-opt", "synthetic.n_train=24", "--data-opt", "synthetic.n_val=8", "--data-opt", "synthetic.n_test=8",
]  # fmt: skip


def _by_method(results: Path) -> dict[str, tuple[dict, list[dict]]]:
    logs = training_logs(results)
    return {run.spec["method"]: (run.metrics()["test"], logs[run.run_id]) for run in iter_runs(results)}


@pytest.mark.slow
def test_plugin_methods_run_in_a_grid_and_a_stateful_one_resumes_exactly_after_a_kill(
    plugin_path: Path, tmp_path: Path
) -> None:
    """RunningMeanNorms keeps running means in ``state_attributes``: killed (SIGKILL) after its
    first checkpoint and run again, it ends with the numbers and training log of an unkilled run."""
    uninterrupted = _mtlbench([*GRID, "--results", "ref"], plugin_path, tmp_path)
    assert uninterrupted.returncode == 0, uninterrupted.stderr + uninterrupted.stdout
    assert "done" in uninterrupted.stdout and "unit-sum" in uninterrupted.stdout
    reference = _by_method(tmp_path / "ref")
    assert set(reference) == {"running-mean-norms", "unit-sum"}
    assert [entry["info"]["steps"] for entry in reference["running-mean-norms"][1] if entry["kind"] == "step"][-1] == 12

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtlbench", *GRID, "--results", str(killed)],
        cwd=tmp_path,
        env=_env(plugin_path, tmp_path),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    on_first_checkpoint(killed, lambda status: send_frozen(proc, signal.SIGKILL), ended(proc)).join()
    assert proc.wait() == -signal.SIGKILL
    (status,) = (json.loads(path.read_text()) for path in (killed / "runs").glob("*/status.json"))
    assert status["state"] == "running"  # killed mid-run, with a checkpoint to resume from
    again = _mtlbench([*GRID, "--results", str(killed)], plugin_path, tmp_path)
    assert again.returncode == 0, again.stderr
    resumed = _by_method(killed)
    assert any('"kind": "resume"' in (run.path / "train_log.jsonl").read_text() for run in iter_runs(killed))
    assert resumed == reference


# A judge's answers in GREEN's format, with the score each must give: matched / (matched + significant errors).
ANSWERS = {
    "heart normal .": (
        "[Clinically Significant Errors]:\n(a) False report of a finding in the candidate: 1. effusion\n"
        "(b) Missing a finding present in the reference: 1. cardiomegaly\n(c) Misidentification of a finding's "
        "anatomic location/position: 0.\n\n[Clinically Insignificant Errors]:\n(a) False report: 2.\n\n"
        "[Matched Findings]:\n3. clear lungs; no pneumothorax; normal mediastinum",
        3 / 5,
    ),
    "no effusion .": (
        "[Clinically Significant Errors]:\nNo clinically significant errors.\n\n[Matched Findings]:\n2. a; b",
        1.0,
    ),
    "small effusion .": ("[Clinically Significant Errors]:\n(1) False report: 2.\n\n[Matched Findings]:\n0.", 0.0),
    "pneumothorax .": ("I cannot compare these reports.", 0.0),
}


PER_EXAMPLE = ("--per-example", "rows.jsonl")


def test_judge_metric_plugin_scores_each_report_with_the_users_judge(plugin_path: Path, tmp_path: Path) -> None:
    judge = tmp_path / "judge"
    judge.mkdir()
    (judge / "my_judge.py").write_text(
        f"ANSWERS = { ({ref: answer for ref, (answer, _) in ANSWERS.items()})!r}\n\n"
        "def judge(references, candidates):\n    return [ANSWERS[r] for r in references]\n"
    )
    refs = {str(i): [ref] for i, ref in enumerate(ANSWERS)}
    (tmp_path / "refs.json").write_text(json.dumps(refs))
    (tmp_path / "preds.json").write_text(json.dumps({i: ["the heart is normal ."] for i in refs}))
    result = _mtlbench(
        ["eval", "--preds", "preds.json", "--refs", "refs.json", "--metrics", "bleu,green-judge", *PER_EXAMPLE],
        plugin_path,
        tmp_path,
        PYTHONPATH=f"{plugin_path}{os.pathsep}{judge}",
        MTLBENCH_JUDGE="my_judge:judge",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    expected = [score for _, score in ANSWERS.values()]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("GREEN ")]
    assert float(line.split()[1]) == pytest.approx(sum(expected) / 4)
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert [row["stats"]["green"] for row in rows] == pytest.approx(expected)
    assert rows[0]["stats"]["green_errors"] == [1, 1, 0, 0, 0, 0] and rows[0]["stats"]["green_matched"] == 3
    assert rows[2]["stats"]["green_errors"] == [2, 0, 0, 0, 0, 0] and "bleu" in rows[0]["stats"]


def _tiny_causal_lm(folder: Path) -> Path:
    """A GPT-2 of one layer with a word-level vocabulary ([UNK] for the rest), saved as the hub ships one."""
    from transformers import GPT2Config, GPT2LMHeadModel

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "matched", "findings", "errors", "no", "1", "."]
    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}))
    config = GPT2Config(
        vocab_size=len(words), n_positions=512, n_embd=8, n_layer=1, n_head=2, bos_token_id=3, eos_token_id=3
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def test_judge_metric_plugin_runs_a_local_model_with_every_weight_checked(
    plugin_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(plugin_path))
    import mtlbench_judge_plugin as plugin

    from mtlbench.errors import MtlbenchError
    from mtlbench.metrics import ModelPaths
    from mtlbench.metrics.config import EvalConfig
    from mtlbench.metrics.families import EvalInput

    (entry,) = [
        e
        for dist in metadata.distributions(path=[str(plugin_path)])
        for e in dist.entry_points
        if e.group == "mtlbench.metrics"
    ]
    assert entry.name == "green-judge" and entry.load() is plugin.GreenJudge
    monkeypatch.delenv("MTLBENCH_JUDGE", raising=False)
    monkeypatch.delenv("MTLBENCH_JUDGE_MODEL", raising=False)
    paths = ModelPaths(root=tmp_path / "models")
    assert "needs a judge: set $MTLBENCH_JUDGE=module:function" in (plugin.GreenJudge.unavailable(paths) or "")
    folder = _tiny_causal_lm(tmp_path / "models" / plugin.MODEL_NAME)
    monkeypatch.setenv("MTLBENCH_JUDGE_MAX_TOKENS", "3")
    assert plugin.GreenJudge.unavailable(paths) is None
    data = EvalInput(["1", "2"], ["no effusion .", ""], ["heart normal .", "no effusion ."], EvalConfig(), paths=paths)
    corpus, rows = plugin.GreenJudge().compute(data)
    # a random model answers in no format: GREEN 0 per report, as green-score's return_0_if_no_green_score
    assert corpus == {"GREEN": 0.0} and [row["green"] for row in rows] == [0.0, 0.0]
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"n_layer": 2}))
    with pytest.raises(MtlbenchError, match=r"do not fit its config\.json"):
        plugin.LocalModelJudge(folder)
