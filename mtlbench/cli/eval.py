"""`mtlbench eval`: score any pair of R2Gen-style prediction and reference files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from tabulate import tabulate

from mtlbench.errors import MtlbenchError
from mtlbench.metrics import LABELERS, evaluate
from mtlbench.results import atomic_write_jsonl
from mtlbench.train.config import EvalConfig


def _texts(path: Path) -> dict[str, str]:
    """{id: [text]}, {id: text}, or a list of texts (ids are then positions)."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise MtlbenchError(f"cannot read {path}: {err}") from None
    if isinstance(data, list):
        data = {str(i): t for i, t in enumerate(data)}
    if not isinstance(data, dict):
        raise MtlbenchError(f"{path}: expected {{id: [text]}}, {{id: text}} or a list of texts")
    out = {}
    for key, value in data.items():
        text = value[0] if isinstance(value, list) and value else value
        if not isinstance(text, str):
            raise MtlbenchError(f"{path}: the entry of id {key!r} is not a text")
        out[str(key)] = text
    return out


@click.command("eval")
@click.option("--preds", type=click.Path(path_type=Path, exists=True), required=True, help="Generated reports.")
@click.option("--refs", type=click.Path(path_type=Path, exists=True), required=True, help="Reference reports.")
@click.option("--labeler", default=EvalConfig.labeler, show_default=True, help="CE labeler: rules or chexbert.")
@click.option(
    "--uncertain", type=click.Choice(["positive", "negative"]), default=EvalConfig.uncertain, show_default=True
)
@click.option("--meteor/--no-meteor", default=True, show_default=True, help="METEOR needs Java.")
@click.option("--per-sample", type=click.Path(path_type=Path), default=None, help="Write per-example rows (JSONL).")
def eval_command(preds: Path, refs: Path, labeler: str, uncertain: str, meteor: bool, per_sample: Path | None) -> None:
    """Score --preds against --refs: BLEU-1..4, METEOR, ROUGE-L, CIDEr (pycocoevalcap, on the
    texts as given, like RRG papers) and clinical efficacy P/R/F1 through the labeler.

    With --labeler chexbert, set $MTLBENCH_CHEXBERT to chexbert.pth and $MTLBENCH_BERT to a
    folder with bert-base-uncased's config.json and vocab.txt.
    """
    predictions, references = _texts(preds), _texts(refs)
    if set(predictions) != set(references):
        only_p = sorted(set(predictions) - set(references))[:3]
        only_r = sorted(set(references) - set(predictions))[:3]
        raise MtlbenchError(f"ids differ between the files: only in --preds {only_p}, only in --refs {only_r}")
    ids = sorted(predictions)
    config = EvalConfig(labeler=LABELERS.canonical(labeler), uncertain=uncertain, meteor=meteor)
    result = evaluate(ids, [predictions[i] for i in ids], [references[i] for i in ids], config=config)
    rows = [[key, f"{value:.5f}"] for key, value in result.corpus.items()]
    click.echo(tabulate(rows, ["metric", "score"], tablefmt="simple"))
    click.echo(f"\n{len(ids)} examples; CE labeler {labeler}, uncertain counted as {uncertain}")
    per_label = [
        [name, f"{v['P']:.3f}", f"{v['R']:.3f}", f"{v['F1']:.3f}", v["support"]] for name, v in result.per_label.items()
    ]
    click.echo("\n" + tabulate(per_label, ["label", "P", "R", "F1", "support"], tablefmt="simple"))
    if per_sample is not None:
        atomic_write_jsonl(per_sample, result.per_example)
        click.echo(f"wrote {per_sample}")
