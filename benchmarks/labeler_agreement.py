"""Agreement of the ``rules`` labeler with hand labels of real IU X-Ray reports, and what it does to CE.

The reference is ``tests/metrics/data/iu_hand_labels.jsonl`` (how it was made: the README beside
it): 200 test-split reports drawn at random and hand-labelled blind to the labeler, split by
draw order into a development half (whose disagreements were read to improve the rules) and a
held-out half (only ever scored), plus two separately chosen sets of reports where the labeler's
Fracture or No Finding decision looked doubtful. For each set and each observation it prints:

* ``hand`` / ``rules``: reports the hand labels / the labeler call positive or uncertain;
* ``F1``: of the labeler's positive-or-uncertain calls against the hand labels' (the CE reading);
* ``agree``: share of reports where both give the same one of positive, negative, uncertain,
  blank, and Cohen's kappa of that four-way agreement;
* the same count and F1 with the labeler run on the R2Gen-cleaned report (lower case, no commas
  or slashes), the form in which CE labels references and generated reports in a run.

Then micro-F1 over the 14 observations with uncertain counted positive and negative, with a
95 % percentile bootstrap interval over reports. On the shared 382 test references and on the
two shared sets of generated reports (``--shared``) it prints the No Finding and Fracture counts
and CE micro-F1 of the generated reports against the references, both labelled by the rules.

``--rev REV`` scores the rules labeler of a git revision instead of the working tree's, so the
same command measures before and after a change:

    .venv/bin/python benchmarks/labeler_agreement.py --rev 7fdcd4f --shared ../shared/data/iu_xray
    .venv/bin/python benchmarks/labeler_agreement.py --shared ../shared/data/iu_xray
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mtlbench.data import clean_report
from mtlbench.data.schema import CHEXPERT_LABELS
from mtlbench.metrics.clinical import ce_scores, to_binary

ROOT = Path(__file__).resolve().parents[1]
HAND = ROOT / "tests" / "metrics" / "data" / "iu_hand_labels.jsonl"
STATES = (1.0, 0.0, -1.0, None)
Labeler = Callable[[str], tuple[float, ...]]
DOUBTFUL_WORDS = (
    r"old|chronic|postoperative|post-?surgical|status post|tortuous|tortuosity|ectatic|ectasia|unfold|hyperlucen"
    r"|spondyl|spur|nodul|lucen|sclero|lymph|deformit|pectus|curvature|sternotomy|clips|flatten|lobectomy|resection"
    r"|kyphos|hernia|calcif|granulom|scar|thicken|blunt|elevat|emphysem|copd|degenera|density|densities"
)
"""Words of a finding, found in a report the rules called No Finding: the report's No Finding is doubtful."""


def load_rules(rev: str | None) -> Labeler:
    """``label_report`` of the working tree, or of git revision ``rev`` (its two rule files, loaded aside)."""
    if rev is None:
        from mtlbench.metrics.rules import label_report

        return label_report
    import mtlbench.metrics as package

    def source(name: str) -> str:
        return subprocess.run(
            ["git", "show", f"{rev}:mtlbench/metrics/{name}.py"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout

    folder = Path(tempfile.mkdtemp(prefix="rules-"))
    modules = {}
    saved = sys.modules.get("mtlbench.metrics.rule_phrases"), getattr(package, "rule_phrases", None)
    try:
        for name in ("rule_phrases", "rules"):
            path = folder / f"{name}.py"
            path.write_text(source(name), encoding="utf-8")
            module = types.ModuleType(f"rules_at_{rev}_{name}")
            module.__file__ = str(path)
            sys.modules[module.__name__] = module  # dataclasses look their module up there
            if name == "rules":  # it imports the phrases through the package: hand it the old ones
                sys.modules["mtlbench.metrics.rule_phrases"] = modules["rule_phrases"]
                package.rule_phrases = modules["rule_phrases"]  # type: ignore[attr-defined]
            exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
            modules[name] = module
    finally:
        if saved[0] is not None:
            sys.modules["mtlbench.metrics.rule_phrases"] = saved[0]
            package.rule_phrases = saved[1]  # type: ignore[attr-defined]
    return modules["rules"].label_report


def _state(code: float | None) -> float | None:
    return None if code is None or (isinstance(code, float) and math.isnan(code)) else float(code)


def hand_codes(row: dict) -> tuple[float | None, ...]:
    return tuple(_state(row["labels"].get(name)) for name in CHEXPERT_LABELS)


def kappa(a: Sequence[float | None], b: Sequence[float | None]) -> float:
    """Cohen's kappa of two raters over the four states; 1.0 when both use one state only."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    expected = sum((a.count(s) / n) * (b.count(s) / n) for s in STATES)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")


def _binary(codes: Sequence[Sequence[float | None]], uncertain: str) -> np.ndarray:
    return to_binary([[math.nan if c is None else c for c in row] for row in codes], uncertain)


def micro_f1(hand: np.ndarray, rules: np.ndarray) -> float:
    tp = int((hand & rules).sum())
    return f1(tp, int(rules.sum()) - tp, int(hand.sum()) - tp)


def bootstrap_interval(
    hand: np.ndarray, rules: np.ndarray, rng: np.random.Generator, n: int = 2000
) -> tuple[float, float]:
    """95 % percentile interval of micro-F1 over reports resampled with replacement."""
    tp, fp, fn = (hand & rules).sum(1), ((1 - hand) & rules).sum(1), (hand & (1 - rules)).sum(1)
    idx = rng.integers(0, len(hand), size=(n, len(hand)))
    t, p, q = tp[idx].sum(1), fp[idx].sum(1), fn[idx].sum(1)
    values = 2 * t / np.maximum(2 * t + p + q, 1)
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def _found(codes: Sequence[float | None]) -> list[bool]:
    return [c in (1.0, -1.0) for c in codes]


def agreement_table(rows: list[dict], label: Labeler, rng: np.random.Generator) -> list[str]:
    """Per observation, on the raw reports and on their R2Gen-cleaned form (what CE labels in a run)."""
    hand = [hand_codes(r) for r in rows]
    rules = [tuple(_state(c) for c in label(r["report"])) for r in rows]
    cleaned = [tuple(_state(c) for c in label(clean_report(r["report"], "iu_xray"))) for r in rows]
    lines = [
        "| observation | hand | rules | F1 | agree | kappa | rules, cleaned text | F1, cleaned text |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, name in enumerate(CHEXPERT_LABELS):
        h, r, c = ([row[i] for row in table] for table in (hand, rules, cleaned))
        hp, rp, cp = _found(h), _found(r), _found(c)
        tp, ctp = sum(a and b for a, b in zip(hp, rp)), sum(a and b for a, b in zip(hp, cp))
        agree = sum(a == b for a, b in zip(h, r)) / len(rows)
        lines.append(
            f"| {name} | {sum(hp)} | {sum(rp)} | {f1(tp, sum(rp) - tp, sum(hp) - tp):.2f} | {agree:.2f} "
            f"| {kappa(h, r):.2f} | {sum(cp)} | {f1(ctp, sum(cp) - ctp, sum(hp) - ctp):.2f} |"
        )
    lines.append("")
    for policy in ("positive", "negative"):
        hb = _binary(hand, policy)
        figures = []
        for text, table in (("raw", rules), ("cleaned", cleaned)):
            rb = _binary(table, policy)
            low, high = bootstrap_interval(hb, rb, rng)
            figures.append(f"{text} **{micro_f1(hb, rb):.3f}** ({low:.3f}-{high:.3f})")
        lines.append(f"- micro-F1 over the 14 observations, uncertain {policy}: {', '.join(figures)}")
    lines.append(f"\n(95 % percentile bootstrap intervals over the {len(rows)} reports)")
    return lines


def disagreements(rows: list[dict], label: Labeler) -> list[str]:
    """Every (report, observation) where the labeler's state differs from the hand label's."""
    out = []
    for row in rows:
        codes = tuple(_state(c) for c in label(row["report"]))
        diff = [f"{name}: hand {h} rules {r}" for name, h, r in zip(CHEXPERT_LABELS, hand_codes(row), codes) if h != r]
        if diff:
            out.append(f"- {row['id']} ({'; '.join(diff)}): {row['report']}")
    return out


def doubtful(annotation: Path, label: Labeler) -> dict[str, list[str]]:
    """The two doubtful sets as they were chosen: among the test reports outside the random draw, every one
    that mentions a fracture, and those the labeler calls No Finding despite a word of ``DOUBTFUL_WORDS``
    (at most 30 of them, drawn with seed 16). Run with ``--rev 7fdcd4f``, the labeler that chose them."""
    import random

    test = json.loads(annotation.read_text(encoding="utf-8"))["test"]
    drawn = set(random.Random(16).sample([ex["id"] for ex in test], 200))
    rest = [ex for ex in test if ex["id"] not in drawn]
    fracture = [ex["id"] for ex in rest if re.search("fractur", ex["report"], re.I)]
    nf = CHEXPERT_LABELS.index("No Finding")
    pool = [
        ex["id"]
        for ex in rest
        if ex["id"] not in fracture
        and label(ex["report"])[nf] == 1.0
        and re.search(rf"\b(?:{DOUBTFUL_WORDS})", ex["report"], re.I)
    ]
    return {"doubtful-fracture": fracture, "doubtful-no-finding": random.Random(16).sample(pool, min(30, len(pool)))}


def no_finding_evidence(rows: list[dict], population: int = 382) -> list[str]:
    """What decides No Finding in the random sample, by the hand labels: the test split's share of No Finding
    (normal interval with the finite-population correction of a draw without replacement), the findings that
    alone block it, and the findings on no CheXpert list that a broader reading would count."""
    n = len(rows)
    clear = [r for r in rows if r["labels"].get("No Finding") == 1]
    share = len(clear) / n
    half = 1.96 * math.sqrt(share * (1 - share) / n * (population - n) / (population - 1))
    only_other: dict[str, int] = {}
    blocked = 0
    for r in rows:
        if "No Finding" in r["labels"] or any(
            c in (1, -1) for name, c in r["labels"].items() if name != "Support Devices"
        ):
            continue
        blocked += 1
        for name, c in r["other"].items():
            if c in (1, -1):
                only_other[name] = only_other.get(name, 0) + 1
    unlisted: dict[str, int] = {}
    with_unlisted = 0
    for r in clear:
        found = [name for name, c in r["unlisted"].items() if c in (1, -1)]
        with_unlisted += bool(found)
        for name in found:
            unlisted[name] = unlisted.get(name, 0) + 1

    def listing(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    return [
        f"- No Finding by hand: {len(clear)} of {n} ({share:.3f}; on the {population} test reports "
        f"{population * (share - half):.0f}-{population * (share + half):.0f}, 95 % interval)",
        f"- reports that are not No Finding only because of CheXpert's other findings: {blocked} "
        f"({listing(only_other)})",
        f"- No Finding reports with a finding on no CheXpert list: {with_unlisted} ({listing(unlisted)}); "
        f"counting those would leave {len(clear) - with_unlisted} of {n} "
        f"({population * (len(clear) - with_unlisted) / n:.0f} of {population})",
    ]


def _texts(path: Path) -> dict[str, str]:
    return {k: v[0] if isinstance(v, list) else v for k, v in json.loads(path.read_text(encoding="utf-8")).items()}


def shared_figures(folder: Path, label: Labeler) -> list[str]:
    """No Finding / Fracture counts on the shared references and predictions, and CE micro-F1."""
    nf, fr = CHEXPERT_LABELS.index("No Finding"), CHEXPERT_LABELS.index("Fracture")
    lines = [
        "| reports | n | No Finding | Fracture (pos / pos+unc) | CE micro-F1 u=pos | u=neg | micro-F1 5 u=pos |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    refs_seen: dict[str, list] = {}
    for sub in ("sample_predictions", "sample_predictions_beam3"):
        refs, preds = _texts(folder / sub / "test_refs.json"), _texts(folder / sub / "test_preds.json")
        ids = sorted(refs)
        ref_codes = [label(refs[i]) for i in ids]
        pred_codes = [label(preds[i]) for i in ids]
        for name, codes in ((f"{sub} references", ref_codes), (f"{sub} generated", pred_codes)):
            arr = np.array(codes, float)
            row = [
                name,
                str(len(ids)),
                str(int((arr[:, nf] == 1).sum())),
                f"{int((arr[:, fr] == 1).sum())} / {int(np.isin(arr[:, fr], [1, -1]).sum())}",
            ]
            if name.endswith("generated"):
                pos, _ = ce_scores(to_binary(pred_codes, "positive"), to_binary(ref_codes, "positive"))
                neg, _ = ce_scores(to_binary(pred_codes, "negative"), to_binary(ref_codes, "negative"))
                row += [f"{pos['CE_F1_micro']:.3f}", f"{neg['CE_F1_micro']:.3f}", f"{pos['CE_F1_micro5']:.3f}"]
            else:
                row += ["", "", ""]
            lines.append("| " + " | ".join(row) + " |")
        refs_seen[sub] = ref_codes
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="score the rules labeler of this git revision")
    parser.add_argument("--shared", type=Path, help="the shared iu_xray folder (sample_predictions*)")
    parser.add_argument("--doubtful", action="store_true", help="redo the choice of the doubtful sets (with --shared)")
    parser.add_argument(
        "--show",
        choices=("dev", "held-out", "doubtful-fracture", "doubtful-no-finding"),
        help="also list every disagreement of this set",
    )
    args = parser.parse_args()
    label = load_rules(args.rev)
    rows = [json.loads(line) for line in HAND.read_text(encoding="utf-8").splitlines()]
    rng = np.random.default_rng(16)
    sets = {
        "random sample, development half": [r for r in rows if r.get("part") == "dev"],
        "random sample, held-out half": [r for r in rows if r.get("part") == "held-out"],
        "random sample, all": [r for r in rows if r["sample"] == "random"],
        "doubtful Fracture": [r for r in rows if r["sample"] == "doubtful-fracture"],
        "doubtful No Finding": [r for r in rows if r["sample"] == "doubtful-no-finding"],
    }
    print(f"# rules labeler at {args.rev or 'the working tree'} against {HAND.relative_to(ROOT)}\n")
    for title, subset in sets.items():
        print(f"## {title} ({len(subset)} reports)\n")
        print("\n".join(agreement_table(subset, label, rng)) + "\n")
    print("## No Finding in the random sample, by the hand labels\n")
    print("\n".join(no_finding_evidence(sets["random sample, all"])) + "\n")
    if args.shared:
        print("## shared IU X-Ray test set, both sides labelled by the rules\n")
        print("\n".join(shared_figures(args.shared, label)) + "\n")
    if args.doubtful and args.shared:
        chosen = doubtful(args.shared / "annotation.json", label)
        committed = {name: [r["id"] for r in rows if r["sample"] == name] for name in chosen}
        print(f"## doubtful sets chosen again: {chosen}\n\nthe same as the committed ones: {chosen == committed}\n")
    if args.show:
        chosen = [r for r in rows if args.show in (r.get("part"), r["sample"])]
        print(f"## disagreements, {args.show}\n")
        print("\n".join(disagreements(chosen, label)))


if __name__ == "__main__":
    main()
