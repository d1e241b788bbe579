"""`mtlbench eval`: score any pair of R2Gen-style prediction and reference files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from tabulate import tabulate

from mtlbench.data import Tokenizer
from mtlbench.data.schema import UNCERTAIN_POLICIES
from mtlbench.errors import MtlbenchError
from mtlbench.metrics import LABELERS, evaluate
from mtlbench.metrics.chexbert import CheXbertLabeler
from mtlbench.results import atomic_write_jsonl
from mtlbench.textfiles import read_json, shown
from mtlbench.train.config import EvalConfig


def read_texts(path: Path) -> dict[str, str]:
    """{id: [text]} (R2Gen's test_res/test_gts), {id: text}, or a list of texts (ids are then positions).

    Read strictly (UTF-8, no duplicate ids: see :mod:`mtlbench.textfiles`); a malformed entry is
    refused in one line naming the file and the id.
    """
    data: Any = read_json(path)
    if isinstance(data, list):
        data = {str(i): t for i, t in enumerate(data)}
    if not isinstance(data, dict):
        raise MtlbenchError(f"{path}: expected {{id: [text]}}, {{id: text}} or a list of texts")
    if not data:
        raise MtlbenchError(f"{path} holds no texts")
    out = {}
    for key, value in data.items():
        text = value[0] if isinstance(value, list) and len(value) == 1 else value
        if not isinstance(text, str):
            raise MtlbenchError(
                f"{path}: the entry of id {shown(repr(key))} is not a text or a list of one text; it is {shown(value)}"
            )
        out[str(key)] = text
    return out


def _labeler(name: str, checkpoint: Path | None, bert_dir: Path | None) -> Any:
    if checkpoint is None and bert_dir is None:
        return None  # the registry builds it from the configuration
    if name != "chexbert" or checkpoint is None or bert_dir is None:
        raise MtlbenchError("--chexbert-checkpoint and --bert-dir go together, with --labeler chexbert")
    return CheXbertLabeler(checkpoint, bert_dir)


@click.command("eval")
@click.option("--preds", type=click.Path(path_type=Path, exists=True), required=True, help="Generated reports.")
@click.option("--refs", type=click.Path(path_type=Path, exists=True), required=True, help="Reference reports.")
@click.option("--labeler", default=EvalConfig.labeler, show_default=True, help="CE labeler: rules or chexbert.")
@click.option(
    "--uncertain",
    type=click.Choice(UNCERTAIN_POLICIES),
    default=EvalConfig.uncertain,
    show_default=True,
    help="How CheXpert's 'uncertain' counts in CE (positive: f1chexbert, CAME-Grad; negative: R2GenCMN).",
)
@click.option("--meteor/--no-meteor", default=True, show_default=True, help="METEOR needs Java.")
@click.option(
    "--vocab",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="A run's vocab.json: turn raw references into R2Gen's form (cleaned, <unk>, truncated) first.",
)
@click.option("--chexbert-checkpoint", type=click.Path(path_type=Path), default=None, help="CheXbert's chexbert.pth.")
@click.option("--bert-dir", type=click.Path(path_type=Path), default=None, help="bert-base-uncased config + vocab.")
@click.option("--per-sample", type=click.Path(path_type=Path), default=None, help="Write per-example rows (JSONL).")
def eval_command(
    preds: Path,
    refs: Path,
    labeler: str,
    uncertain: str,
    meteor: bool,
    vocab: Path | None,
    chexbert_checkpoint: Path | None,
    bert_dir: Path | None,
    per_sample: Path | None,
) -> None:
    """Score --preds against --refs: BLEU-1..4, METEOR, ROUGE-L, CIDEr (pycocoevalcap, on the
    texts as given, like RRG papers) and clinical efficacy P/R/F1 through the labeler.

    With --labeler chexbert, pass --chexbert-checkpoint and --bert-dir (or set $MTLBENCH_CHEXBERT
    and $MTLBENCH_BERT).
    """
    predictions, references = read_texts(preds), read_texts(refs)
    if set(predictions) != set(references):
        only_p = sorted(set(predictions) - set(references))[:3]
        only_r = sorted(set(references) - set(predictions))[:3]
        raise MtlbenchError(f"ids differ between the files: only in --preds {only_p}, only in --refs {only_r}")
    ids = sorted(predictions)
    reference_texts = [references[i] for i in ids]
    if vocab is not None:
        tokenizer = Tokenizer.load(vocab)
        reference_texts = [tokenizer.decode(tokenizer.encode(text)[1:]) for text in reference_texts]
    config = EvalConfig(labeler=LABELERS.canonical(labeler), uncertain=uncertain, meteor=meteor)
    scorer = _labeler(config.labeler, chexbert_checkpoint, bert_dir)
    result = evaluate(ids, [predictions[i] for i in ids], reference_texts, config=config, labeler=scorer)
    rows = [[key, f"{value:.5f}"] for key, value in result.corpus.items()]
    click.echo(tabulate(rows, ["metric", "score"], tablefmt="simple"))
    description = (scorer or LABELERS.get(config.labeler)).description
    empty = result.text_counts["empty_predictions"]
    click.echo(
        f"\n{len(ids)} examples, {empty} with an empty prediction; CE labeler: {description}; "
        f"uncertain counted as {uncertain}"
    )
    for line in result.warnings():
        click.echo(f"warning: {line}")
    per_label = [
        [name, f"{v['P']:.3f}", f"{v['R']:.3f}", f"{v['F1']:.3f}", v["support"]] for name, v in result.per_label.items()
    ]
    click.echo("\n" + tabulate(per_label, ["label", "P", "R", "F1", "support"], tablefmt="simple"))
    if per_sample is not None:
        atomic_write_jsonl(per_sample, result.per_example)
        click.echo(f"wrote {per_sample}")
