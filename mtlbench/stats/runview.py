"""One run as text: its configuration, environment, curves per epoch, diagnostics, test figures, and
its best and worst test examples beside their references (``mtlbench show RUN_ID``).

Everything comes from the run's folder in the store (read through :mod:`mtlbench.results`);
a running or failed run shows what it has logged so far.
"""

from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from mtlbench.chexpert import CHEXPERT_LABELS
from mtlbench.errors import MtlbenchError
from mtlbench.results import EXAMPLES, METRICS, TRAIN_LOG, RunRecord, iter_runs, read_json, read_jsonl, read_train_log
from mtlbench.stats.features import MissingStatistic, build_block

RANKINGS = {
    "cider": ("cider", 0, "CIDEr-D"),
    "rouge_l": ("rouge_l", 0, "ROUGE-L"),
    "ce_f1": ("ce_example", 2, "example-level CE F1"),
}
"""--by: (statistics block, column, name) of the per-example score the examples are ranked by."""


def find_run(results: Path, prefix: str) -> RunRecord:
    """The run whose id starts with ``prefix``, in the store or its tuning trials; one line if none or several."""
    prefix = prefix.strip()
    if not prefix:
        raise MtlbenchError("give a run id (or a unique prefix of one); `mtlbench status` lists them")
    found = [
        r for root in (Path(results), Path(results) / "tuning") for r in iter_runs(root) if r.run_id.startswith(prefix)
    ]
    if not found:
        raise MtlbenchError(f"no run id in {results} starts with {prefix!r}; `mtlbench status {results}` lists them")
    if len({r.run_id for r in found}) > 1:
        ids = ", ".join(sorted({r.run_id for r in found})[:5])
        raise MtlbenchError(f"{prefix!r} matches several runs ({ids}, ...): give more of the id")
    return found[0]


def _label_text(codes: Sequence[Any] | None) -> str:
    """Positive findings by name, uncertain ones with '?', e.g. "Cardiomegaly, Edema?"; "none" when none."""
    if not codes:
        return "-"
    names = [
        name + ("?" if code == -1 else "")
        for name, code in zip(CHEXPERT_LABELS, codes)
        if isinstance(code, int | float) and code in (1, -1)
    ]
    return ", ".join(names) or "no finding labelled"


def example_scores(rows: Sequence[Mapping[str, Any]], by: str, uncertain: str) -> np.ndarray:
    """Each example's score under ``by`` (one of RANKINGS)."""
    block, column, name = RANKINGS[by]
    try:
        return build_block(block, rows, uncertain)[:, column]
    except (MissingStatistic, KeyError, TypeError, ValueError) as err:
        raise MtlbenchError(
            f"the examples of this run hold no per-example {name}; try --by with another score"
        ) from err


def _side_by_side(left: str, right: str, width: int) -> str:
    half = max((width - 3) // 2, 20)
    a = textwrap.wrap(left or "(empty)", half) or [""]
    b = textwrap.wrap(right or "(empty)", half) or [""]
    lines = [f"{x:<{half}} | {y}" for x, y in zip(a + [""] * (len(b) - len(a)), b + [""] * (len(a) - len(b)))]
    return "\n".join(line.rstrip() for line in lines)


def _examples_section(rows: list[dict[str, Any]], scores: np.ndarray, n: int, by: str, width: int) -> list[str]:
    name = RANKINGS[by][2]
    order = np.argsort(-scores, kind="stable")
    n = min(n, len(rows) // 2 or len(rows))
    out = []
    for title, picked in ((f"best {n} test examples by {name}", order[:n]), (f"worst {n}", order[::-1][:n])):
        out.append(f"\n{title}:")
        for i in picked:
            row = rows[int(i)]
            out.append(f"\n  {row.get('id')}  {name} {scores[int(i)]:.3f}")
            out.append(
                _side_by_side(
                    "generated: " + str(row.get("generated", "")), "reference: " + str(row.get("reference", "")), width
                )
            )
            out.append(
                _side_by_side(
                    "labels: " + _label_text(row.get("labels_generated")),
                    "labels: " + _label_text(row.get("labels_reference")),
                    width,
                )
            )
    return out


def _epoch_means(log: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Per epoch, the mean over its logged steps of each task weight and pairwise cosine."""
    sums: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for entry in log:
        if entry.get("kind") != "step":
            continue
        epoch = int(entry.get("epoch", 0))
        for task, value in (entry.get("weights") or {}).items():
            if isinstance(value, int | float) and math.isfinite(value):
                sums[epoch][f"w[{task}]"].append(float(value))
        for pair, value in (entry.get("cosines") or {}).items():
            if isinstance(value, int | float) and math.isfinite(value):
                sums[epoch][f"cos[{pair}]"].append(float(value))
    return {e: {k: float(np.mean(v)) for k, v in d.items()} for e, d in sums.items()}


def _number(value: Any, scale: float = 1.0) -> str:
    return f"{scale * value:.4g}" if isinstance(value, int | float) else str(value if value is not None else "")


def _curves_section(run: RunRecord, metrics: Mapping[str, Any]) -> list[str]:
    log = read_train_log(run.path / TRAIN_LOG)
    epochs = [e for e in log if e.get("kind") == "epoch"] or list(metrics.get("history") or [])
    if not epochs:
        return ["\ncurves: no epoch finished yet"]
    means = _epoch_means(log)
    monitor = (run.spec.get("train") or {}).get("monitor", "loss")
    best = metrics.get("best_epoch")
    val_keys = [k for k in dict.fromkeys(k for e in epochs for k in (e.get("val") or {})) if k in ("loss", monitor)]
    tasks = list(dict.fromkeys(t for e in epochs for t in (e.get("train_loss") or {})))
    extra = list(dict.fromkeys(k for m in means.values() for k in m))
    header = ["epoch", *(f"train loss {t}" for t in tasks), *(f"val {k}" for k in val_keys), *extra]
    rows = []
    for entry in epochs:
        epoch = int(entry.get("epoch", 0))
        mark = " *" if best is not None and epoch == best else ""
        rows.append(
            [
                f"{epoch + 1}{mark}",
                *(_number((entry.get("train_loss") or {}).get(t)) for t in tasks),
                *(_number((entry.get("val") or {}).get(k)) for k in val_keys),
                *(_number(means.get(epoch, {}).get(k)) for k in extra),
            ]
        )
    note = "* the epoch chosen on validation" if best is not None else "(still training, or failed: no epoch chosen)"
    return [
        "\ncurves (weights and cosines: means over each epoch's logged steps):",
        tabulate(rows, headers=header),
        note,
    ]


def render_run(run: RunRecord, *, examples: int = 3, by: str = "cider", width: int = 100) -> str:
    """The whole text of ``mtlbench show``."""
    spec, status = run.spec, run.status
    metrics: dict[str, Any] = read_json(run.path / METRICS) if (run.path / METRICS).is_file() else {}
    label = spec.get("method", "?") + (f" {spec['method_params']}" if spec.get("method_params") else "")
    lines = [
        f"run {run.run_id}: {label} seed {spec.get('seed')} on {spec.get('dataset')} / "
        f"{spec.get('backbone', 'transformer')}-{spec.get('size', 'tiny')}, tasks {'+'.join(spec.get('tasks', []))}",
        f"state {run.state}"
        + (f": {status.get('reason')}" if status.get("reason") else "")
        + f"; attempts {status.get('attempts', '?')}, started {status.get('started', '?')}, "
        f"finished {status.get('finished', '-')}, host {status.get('host', '?')}",
        "\nconfig:",
    ]
    flat: dict[str, Any] = {}
    for key, value in spec.items():
        if isinstance(value, dict):
            flat |= {f"{key}.{k}": v for k, v in value.items()}
        else:
            flat[key] = value
    lines += textwrap.wrap(
        "; ".join(f"{k}={v}" for k, v in sorted(flat.items())), width, initial_indent="  ", subsequent_indent="  "
    )
    environment = status.get("environment") or {}
    if environment:
        packages = ", ".join(f"{k} {v}" for k, v in sorted((environment.get("packages") or {}).items()))
        lines.append("\nenvironment:")
        device = " ".join(str(environment.get(k) or "") for k in ("device", "device_name")).strip()
        lines.append(
            f"  python {environment.get('python')}, device {device}, torch threads {environment.get('torch_threads')}, "
            f"code {environment.get('code_revision')}"
        )
        lines += textwrap.wrap(packages, width, initial_indent="  ", subsequent_indent="  ")
    lines += _curves_section(run, metrics)
    diagnostics = metrics.get("diagnostics") or {}
    if diagnostics:
        lines.append("\ndiagnostics (means over training):")
        items = [f"{k} {_number(v)}" for k, v in sorted(diagnostics.items())]
        lines += textwrap.wrap("; ".join(items), width, initial_indent="  ", subsequent_indent="  ")
    test = metrics.get("test") or {}
    if test:
        lines.append("\ntest (x100):")
        lines += textwrap.wrap(
            "; ".join(f"{k} {_number(v, 100)}" for k, v in test.items()),
            width,
            initial_indent="  ",
            subsequent_indent="  ",
        )
    if (run.path / EXAMPLES).is_file():
        rows = read_jsonl(run.path / EXAMPLES)
        if rows:
            uncertain = str((spec.get("eval") or {}).get("uncertain", "positive"))
            lines += _examples_section(rows, example_scores(rows, by, uncertain), examples, by, width)
    elif run.state != "done":
        lines.append("\nno test examples yet: the run has not finished")
    return "\n".join(lines) + "\n"
