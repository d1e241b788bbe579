"""`mtlbench eval`: score any pair of R2Gen-style prediction and reference files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from tabulate import tabulate

from mtlbench.data import Tokenizer
from mtlbench.data.schema import UNCERTAIN_POLICIES
from mtlbench.errors import MtlbenchError
from mtlbench.metrics import LABELERS, METRICS, ModelPaths, evaluate, family_status
from mtlbench.metrics import chexbert as chexbert_model
from mtlbench.metrics.chexbert import CheXbertLabeler
from mtlbench.results import atomic_write_jsonl
from mtlbench.train.config import EvalConfig


def read_texts(path: Path) -> dict[str, str]:
    """{id: [text]} (R2Gen's test_res/test_gts), {id: text}, or a list of texts (ids are then positions)."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise MtlbenchError(f"cannot read {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise MtlbenchError(f"{path} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
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
            raise MtlbenchError(f"{path}: the entry of id {key!r} is not a text or a list of one text")
        out[str(key)] = text
    return out


def _labeler(name: str, checkpoint: Path | None, bert_dir: Path | None, paths: ModelPaths) -> Any:
    if checkpoint is None and bert_dir is None:
        return chexbert_model.load(paths) if name == "chexbert" and paths.root else None  # else from the config
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
@click.option(
    "--metrics",
    "metric_names",
    default="available",
    show_default=True,
    help="Metric families, comma-separated (`mtlbench list metrics`), 'all', or 'available' (all that can run here).",
)
@click.option(
    "--models-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of the model-based metrics' local weights (default $MTLBENCH_MODELS).",
)
@click.option(
    "--per-example",
    "--per-sample",
    "per_example",
    type=click.Path(path_type=Path),
    default=None,
    help="Write one JSON line per example: id, texts, labels, every per-example score (old name: --per-sample).",
)
def eval_command(
    preds: Path,
    refs: Path,
    labeler: str,
    uncertain: str,
    meteor: bool,
    vocab: Path | None,
    chexbert_checkpoint: Path | None,
    bert_dir: Path | None,
    metric_names: str,
    models_dir: Path | None,
    per_example: Path | None,
) -> None:
    """Score --preds against --refs: BLEU-1..4, METEOR, ROUGE-L, CIDEr (pycocoevalcap, on the
    texts as given, like RRG papers), clinical efficacy P/R/F1 through the labeler, and every
    model-based metric whose weights are in --models-dir (BERTScore, SembScore, F1RadGraph,
    RadCliQ-v1); the others are listed with what they need.

    With --labeler chexbert, pass --chexbert-checkpoint and --bert-dir (or set $MTLBENCH_CHEXBERT
    and $MTLBENCH_BERT, or put chexbert.pth and bert-base-uncased/ in --models-dir).
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
    paths = ModelPaths.from_env(root=models_dir)
    chosen, skipped = choose_metrics(metric_names, paths, meteor=meteor)
    scorer = _labeler(config.labeler, chexbert_checkpoint, bert_dir, paths) if "ce" in chosen else None
    result = evaluate(
        ids, [predictions[i] for i in ids], reference_texts, config=config, labeler=scorer, metrics=chosen, paths=paths
    )
    rows = [[key, f"{value:.5f}"] for key, value in result.corpus.items()]
    click.echo(tabulate(rows, ["metric", "score"], tablefmt="simple"))
    click.echo(f"\n{len(ids)} examples")
    if "ce" in chosen:
        description = (scorer or LABELERS.get(config.labeler)).description
        click.echo(f"CE labeler: {description}; uncertain counted as {uncertain}")
    for name, reason in skipped.items():
        click.echo(f"not run: {name}: {reason}")
    if result.per_label:
        per_label = [
            [name, f"{v['P']:.3f}", f"{v['R']:.3f}", f"{v['F1']:.3f}", v["support"]]
            for name, v in result.per_label.items()
        ]
        click.echo("\n" + tabulate(per_label, ["label", "P", "R", "F1", "support"], tablefmt="simple"))
    if per_example is not None:
        atomic_write_jsonl(per_example, result.per_example)
        click.echo(f"wrote {per_example}")


def choose_metrics(spec: str, paths: ModelPaths, *, meteor: bool) -> tuple[list[str], dict[str, str]]:
    """(families to run, {family: why it does not run}) for --metrics ``spec``.

    "available": every family that can run here, the others reported; "all" or named families:
    each must be able to run, else one line says what it needs.
    """
    status = family_status(paths)
    if not meteor:
        status["meteor"] = "--no-meteor"
    if spec.strip() == "available":
        return [n for n, why in status.items() if why is None], {n: why for n, why in status.items() if why}
    names = METRICS.expand(spec)
    blocked = [f"{n}: {status[n]}" for n in names if status.get(n) and n != "meteor"]
    if blocked:
        raise MtlbenchError(
            f"cannot run {blocked[0]}" + (f" (and {len(blocked) - 1} more)" if len(blocked) > 1 else "")
        )
    return [n for n in names if not status.get(n)], {}
