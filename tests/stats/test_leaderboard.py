"""Leaderboards from a result store: figures, significance marks, incomplete grids, formats, CLI."""

from __future__ import annotations

import base64
import csv
import io
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from storefakes import example_rows, fill_store, write_run

from mtlbench.cli import cli
from mtlbench.errors import MtlbenchError
from mtlbench.metrics.config import EvalConfig
from mtlbench.results import atomic_write_json, run_dir
from mtlbench.runner.spec import RunSpec
from mtlbench.stats import Settings, build_report, render_leaderboard, render_report, write_leaderboards
from mtlbench.stats.cells import analyse
from mtlbench.stats.corpus import bleu
from mtlbench.stats.store import scan

FAST = Settings(resamples=400)


def test_a_real_difference_is_marked_and_the_caption_says_how(store: Path) -> None:
    (result,), skipped = analyse(scan(store), Settings(resamples=2000))
    assert not skipped and result.methods == ["ls", "mgda", "pcgrad"]
    k = result.index("BLEU_4")
    assert result.significant[2, k] and result.best_tied[2, k] and not result.best_tied[0, k]
    assert np.isnan(result.p_baseline[0, k]) and result.p_baseline[2, k] < 0.05
    assert result.delta_m[2] > 0 > result.delta_m[1] and result.delta_m_significant[2]
    assert result.mean_rank[2] == 1.0 and result.mean_rank[1] == 3.0
    text = render_leaderboard(store, resamples=300)
    assert "crossed-design t-test" in text and "300 resamples" in text and "Welch-Satterthwaite" in text
    assert "step-down max-T over a family of 14 comparisons (2 methods x 7 NLG metrics, each against ls)" in text
    assert "simultaneous 95% intervals over each table's family" in text
    assert "rule test labeler" in text and "uncertain findings counted as positive" in text
    assert "Tuning budget: none" in text and "mean ± std over 3 seeds" in text and "alpha 0.05" in text
    assert text.index(": effect sizes") < text.index(": NLG metrics")  # what a reviewer reads first
    assert "MDE (80% power)" in text and "P(worse / equivalent / better) than ls" in text
    old = render_leaderboard(store, resamples=300, test="bootstrap")
    assert "two-level paired bootstrap, 300 resamples" in old and "Holm over a family of 14" in old
    assert "percentile intervals of the two-level bootstrap, NOT adjusted" in old


def test_point_estimates_are_corpus_metrics_averaged_over_seeds(store: Path) -> None:
    (result,), _ = analyse(scan(store), FAST)
    k = result.index("BLEU_4")
    per_seed = []
    for ref in scan(store)[0].done("pcgrad"):
        rows = [json.loads(line) for line in (ref.path / "examples.jsonl").read_text().splitlines()]
        comps = np.array([[r["stats"]["bleu"][x] for x in ("testlen", "reflen")] + r["stats"]["bleu"]["guess"]
                          + r["stats"]["bleu"]["correct"] for r in rows])  # fmt: skip
        per_seed.append(float(bleu(comps.sum(0), 4)))
    assert result.mean[2, k] == pytest.approx(np.mean(per_seed), rel=1e-12)
    assert result.std[2, k] == pytest.approx(np.std(per_seed, ddof=1), rel=1e-9)
    assert result.ci_low[2, k] < result.mean[2, k] < result.ci_high[2, k]


def test_stats_reproduce_the_runners_corpus_figures(tmp_path: Path) -> None:
    """Per-example statistics written by the real evaluation give back its corpus figures."""
    from mtlbench.metrics.evaluate import evaluate

    rng = np.random.default_rng(3)
    words = ["heart", "size", "normal", "lungs", "clear", "no", "pleural", "effusion", "pneumothorax", "mild",
             "cardiomegaly", "edema", "opacity"]  # fmt: skip
    refs = [" ".join(rng.choice(words, size=int(rng.integers(5, 12)))) for _ in range(40)]
    preds = [" ".join(rng.choice(words, size=int(rng.integers(4, 12)))) for _ in range(40)]
    config = EvalConfig(meteor=False)
    evaluation = evaluate([f"e{i}" for i in range(40)], preds, refs, config=config)
    spec = RunSpec(method="ls", dataset="synthetic", seed=0, eval=config)
    write_run(tmp_path, spec, evaluation.per_example)
    (result,), _ = analyse(scan(tmp_path), FAST)
    for k, definition in enumerate(result.metrics):
        assert result.mean[0, k] == pytest.approx(evaluation.corpus[definition.key], abs=1e-12), definition.key


def test_incomplete_grids_are_reported_not_hidden(store: Path) -> None:
    running = RunSpec(method="pcgrad", dataset="synthetic", seed=4)
    write_run(store, running, [], state="running")
    text = render_leaderboard(store, resamples=200)
    assert "failed: mgda seed 3 (diverged: loss nan)" in text
    assert "not finished: pcgrad seed 4 (running)" in text
    assert "never run: ls seed 3" in text and "never run: mgda seed 4" in text


def test_unreadable_runs_and_missing_examples_are_named(store: Path) -> None:
    ref = scan(store)[0].done("mgda")[0]
    (ref.path / "examples.jsonl").write_text("{not json\n")
    rng = np.random.default_rng(9)
    write_run(store, RunSpec(method="ls", dataset="synthetic", seed=3), example_rows(rng, 140, 0.5))
    (result,), _ = analyse(scan(store), FAST)
    assert any(p.startswith(f"unreadable: mgda seed {ref.seed}") for p in result.problems)
    assert "10 test examples are missing from some runs; every statistic uses the 140 examples" in " ".join(
        result.problems
    )
    assert result.seeds == {"ls": 4, "mgda": 2, "pcgrad": 3} and result.n_examples == 140
    assert "mgda has 2 of 4 seeds" in result.problems


def test_cells_with_nothing_to_compare_are_listed(tmp_path: Path) -> None:
    write_run(tmp_path, RunSpec(method="ls", dataset="iu_xray", seed=0), [], state="failed", reason="oom")
    fill_store(tmp_path, {"ls": 0.5, "pcgrad": 0.6}, n=60)
    text = render_leaderboard(tmp_path, resamples=200)
    assert "iu_xray / transformer-tiny / tasks report+cls: no finished run can be read" in text


def test_randomization_and_per_seed_tests_say_what_they_can_show(store: Path) -> None:
    (ar,), _ = analyse(scan(store), replace(FAST, test="randomization"))
    k = ar.index("BLEU_4")
    assert ar.p_raw[2, k] == 0.25 and not ar.significant.any()  # 3 seed pairs: 2 / 2^3 at best
    assert "the smallest attainable p is 0.25, so nothing can be significant" in " ".join(ar.warnings)
    (wx,), _ = analyse(scan(store), replace(FAST, test="wilcoxon"))
    assert not wx.significant.any()  # 3 pairs: the smallest two-sided p is 0.25
    assert "cannot go below p = 0.25" in " ".join(wx.warnings)
    (mw,), _ = analyse(scan(store), replace(FAST, test="mannwhitney"))
    assert "3 vs 3 seeds cannot go below p = 0.1" in " ".join(mw.warnings)
    (welch,), _ = analyse(scan(store), replace(FAST, test="welch"))
    assert welch.p_raw[2, k] < 0.05 and "Welch's t-test with 3 seeds" in " ".join(welch.warnings)


def test_holm_and_benjamini_hochberg_are_options_and_max_t_is_never_weaker_than_holm(store: Path) -> None:
    settings = replace(FAST, resamples=4000)  # max-T's null draws: Monte-Carlo error about 0.004 at p = 0.05
    (maxt,), _ = analyse(scan(store), settings)
    (holm,), _ = analyse(scan(store), replace(settings, correction="holm"))
    (bh,), _ = analyse(scan(store), replace(settings, correction="bh"))
    np.testing.assert_array_equal(holm.p_raw, bh.p_raw)
    np.testing.assert_array_equal(holm.p_raw, maxt.p_raw)
    assert np.all(bh.p_baseline[1:] <= holm.p_baseline[1:] + 1e-12)
    # max-T's single-step bound is Sidak's at worst, below Holm's first step; allow its Monte-Carlo error
    assert np.all(maxt.p_baseline[1:] <= holm.p_baseline[1:] + 0.01)
    text = render_leaderboard(store, resamples=200, correction="bh")
    assert "Benjamini-Hochberg over a family of 20 comparisons" in text
    assert "NOT adjusted for the table's family" in text
    with pytest.raises(MtlbenchError, match="--correction maxt needs the variance components of --test crossed"):
        Settings(test="welch", correction="maxt")


def test_across_cells_the_cells_are_the_blocks_and_too_few_say_so(tmp_path: Path) -> None:
    fill_store(tmp_path, {"ls": 0.5, "pcgrad": 0.7, "mgda": 0.4, "cagrad": 0.55}, n=60)
    fill_store(tmp_path, {"ls": 0.5, "pcgrad": 0.65, "mgda": 0.45}, n=60, dataset="iu_xray", rng_seed=1)
    report = build_report(tmp_path, replace(FAST, posthoc="nemenyi"))
    ranking = report.ranking
    assert not isinstance(ranking, str)
    assert ranking.methods == ["ls", "mgda", "pcgrad"] and ranking.n_cells == 2 and len(ranking.blocks) == 2
    assert ranking.excluded == ["cagrad (missing from 1 of 2 cells)"]
    assert ranking.mean_ranks[2] == 1.0 and ranking.cd is not None
    # 2 blocks, 3 methods: even a mean-rank gap of 2 has Nemenyi p > 0.05, so no pair can differ
    assert not ranking.diagram and ranking.groups == [] and "no critical-difference diagram" in ranking.posthoc_floor
    text = render_report(report, "terminal")
    assert "Iman-Davenport F(2, 2)" in text and "Left out of the ranking: cagrad" in text
    assert "with 2 cells and 3 methods no pair can differ significantly by Nemenyi's test" in text
    assert "Bayesian signed-rank test over the cells" in text and "P(worse / ±1% / better) vs ls" in text
    wilcoxon = build_report(tmp_path, FAST).ranking
    assert not isinstance(wilcoxon, str) and "2/2^2 = 0.5" in wilcoxon.posthoc_floor


def test_one_cell_gives_no_across_cell_test(store: Path) -> None:
    """Seven correlated metrics of one cell are not seven data sets (the old default printed a Friedman p)."""
    report = build_report(store, FAST)
    assert isinstance(report.ranking, str) and report.ranking.startswith("one cell only")
    text = render_report(report, "terminal")
    assert "Friedman" not in text and "No across-cell test: one cell only" in text


def test_every_format_is_written(store: Path, tmp_path: Path) -> None:
    fill_store(store, {"ls": 0.5, "pcgrad": 0.7, "mgda": 0.45}, dataset="iu_xray", n=50, rng_seed=1)
    fill_store(store, {"ls": 0.5, "pcgrad": 0.7, "mgda": 0.45}, dataset="mimic_cxr", n=50, rng_seed=2)
    written = write_leaderboards(store, tmp_path / "out" / "board", resamples=1000, posthoc="nemenyi")
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in written.paths) == [
        "board-cd.png", "board-methods/ls.html", "board-methods/mgda.html", "board-methods/pcgrad.html",
        "board.csv", "board.html", "board.md", "board.tex", "board.txt"
    ]  # fmt: skip
    latex = (tmp_path / "out" / "board.tex").read_text()
    assert "\\toprule" in latex and "\\textbf{" in latex and "\\underline{" in latex and "$^\\dagger$" in latex
    assert "$\\uparrow$" in latex and "$\\pm$" in latex and "±" not in latex and "†" not in latex
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "board.csv").read_text())))
    assert {r["method"] for r in rows} == {"ls", "pcgrad", "mgda"}
    assert all(None not in r and None not in r.values() for r in rows)  # every row has every column
    bleu4 = next(r for r in rows if r["method"] == "pcgrad" and r["metric"] == "BLEU_4" and "synthetic" in r["cell"])
    assert bleu4["significant_vs_baseline"] == "True" and float(bleu4["p_raw"]) <= float(bleu4["p_corrected"]) < 0.05
    assert 0 < float(bleu4["diff_ci_low"]) < float(bleu4["diff_vs_baseline"]) < float(bleu4["diff_ci_high"])
    assert bleu4["correction"] == "maxt" and bleu4["family_size"] == "14" and float(bleu4["df"]) > 1
    assert float(bleu4["mde"]) > 0 and float(bleu4["p_better"]) > 0.9 and bleu4["interval"].startswith("simultaneous")
    assert abs(sum(float(bleu4[c]) for c in ("p_worse", "p_equivalent", "p_better")) - 1) < 1e-5
    delta = next(r for r in rows if r["method"] == "pcgrad" and r["metric"] == "delta_m_percent")
    assert float(delta["p_raw"]) <= float(delta["p_corrected"]) and delta["family_size"] == "2"
    markdown = (tmp_path / "out" / "board.md").read_text()
    assert "| method" in markdown and "**" in markdown and "<ins>" in markdown and "†" in markdown
    page = (tmp_path / "out" / "board.html").read_text()
    assert "<table>" in page and "<strong>" in page and "data:image/png;base64," in page
    png = base64.b64decode(page.split("data:image/png;base64,")[1].split('"')[0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" == (tmp_path / "out" / "board-cd.png").read_bytes()[:8]
    assert "<script" not in page and "http" not in page.split("<body>")[1]  # self-contained


def test_latex_escapes_method_names(tmp_path: Path) -> None:
    fill_store(tmp_path, {"ls": 0.5, "my_method": 0.6}, seeds=2, n=40)
    latex = render_leaderboard(tmp_path, fmt="latex", resamples=200)
    assert "my\\_method" in latex and "my_method &" not in latex


def test_terminal_marks_explain_themselves(store: Path) -> None:
    plain = render_leaderboard(store, resamples=1000)
    assert "\033[" not in plain and "*†" in plain
    assert "* (bold in the other formats): not significantly worse than the best" in plain
    coloured = render_leaderboard(store, resamples=200, ansi=True)
    assert "\033[1m" in coloured and "\033[4m" in coloured and "underlined" in coloured


def test_without_matplotlib_the_page_says_so(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    fill_store(store, {"ls": 0.5, "pcgrad": 0.7, "mgda": 0.45}, dataset="iu_xray", n=50)
    fill_store(store, {"ls": 0.5, "pcgrad": 0.7, "mgda": 0.45}, dataset="mimic_cxr", n=50, rng_seed=2)
    written = write_leaderboards(store, tmp_path / "b", resamples=200, posthoc="nemenyi")
    assert not any(p.suffix == ".png" for p in written.paths)
    assert written.notes == ['no figures: the report\'s figures need matplotlib: pip install "mtlbench[plots]"',
                             'no critical-difference diagram: the critical-difference diagram needs matplotlib: '
                             'pip install "mtlbench[plots]"']  # fmt: skip
    assert "No critical-difference diagram" in (tmp_path / "b.html").read_text()


def test_report_command_prints_and_writes(store: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(store), "--resamples", "200", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "BLEU-4" in result.output and (tmp_path / "b.md").is_file()
    assert not (tmp_path / "b-cd.png").exists()  # one cell: nothing to draw
    assert "reproduce with: mtlbench report" in (tmp_path / "b.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "lss"], "baseline 'lss' has no finished run"),
        (["--alpha", "1.5"], "--alpha must lie strictly between 0 and 1"),
        (["--resamples", "5"], "--resamples must be at least 100"),
        (["--summary-metrics", "BLEU_9"], "unknown summary metrics ['BLEU_9']"),
        (["--rope", "BLEU_4"], "--rope 'BLEU_4': give METRIC=POINTS"),
        (["--rope", "BLEU_9=1"], "unknown metric 'BLEU_9' in --rope"),
        (["--test", "welch", "--correction", "maxt"], "--correction maxt needs the variance components"),
    ],
)
def test_bad_options_give_one_line_errors(store: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["report", str(store), "--resamples", "200", *args])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_settings_reject_nonsense() -> None:
    with pytest.raises(MtlbenchError, match="unknown --test"):
        Settings(test="t-test")


def test_an_empty_store_says_so(tmp_path: Path) -> None:
    assert "no finished runs" in render_leaderboard(tmp_path)
    atomic_write_json(
        run_dir(tmp_path, "x") / "config.json", {"run_id": "x", "spec": RunSpec("ls", "synthetic", 0).to_dict()}
    )
    assert "no finished runs" in render_leaderboard(tmp_path)
