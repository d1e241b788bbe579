"""run_one: a pure function of its RunSpec that writes only under its own run folder."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mtlbench.backbones import BACKBONES, Backbone, BackboneConfig
from mtlbench.backbones.base import check_backbone_options
from mtlbench.chexpert import CHEXPERT_LABELS
from mtlbench.data import DATASETS, Tokenizer, attach_labels
from mtlbench.data.cache import label_cache_dir
from mtlbench.data.images import Pixels
from mtlbench.data.torch_data import StudyDataset, make_loader
from mtlbench.methods import create as create_method
from mtlbench.metrics import LABELERS, ModelPaths, evaluate
from mtlbench.metrics.classification import score_classification
from mtlbench.metrics.evaluate import Evaluation, merge
from mtlbench.metrics.retrieval import retrieval_hits, score_retrieval
from mtlbench.results import CHECKPOINT, DONE, FAILED, TRAIN_LOG
from mtlbench.runner.environment import describe_environment, pick_device, seed_everything
from mtlbench.runner.feature_cache import MemoryFeatures, check_feature_cache, ensure_feature_cache
from mtlbench.runner.image_cache import MemoryPixels, ensure_image_cache, image_needs
from mtlbench.runner.lease import DEFAULT_LEASE, HELD, Holder, Lease, LeaseLost, LeaseSettings
from mtlbench.runner.loading import DEFAULT_LOADING, LoadSettings
from mtlbench.runner.spec import RunSpec
from mtlbench.runner.store import ResultStore
from mtlbench.runner.trackers import TrackerSettings
from mtlbench.runner.trackers.feed import TrackerFeed
from mtlbench.train.checkpoint import DEFAULT_CHECKPOINTS, CheckpointSettings
from mtlbench.train.loop import fit, generate_reports, mean_losses
from mtlbench.train.predict import predict_probabilities, retrieval_embeddings

VOCAB = "vocab.json"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_one(
    spec: RunSpec,
    results: Path,
    *,
    data_root: Path | None = None,
    device: str | None = None,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    trackers: TrackerSettings | None = None,
    models_dir: Path | None = None,
    loading: LoadSettings = DEFAULT_LOADING,
    checkpoints: CheckpointSettings = DEFAULT_CHECKPOINTS,
    lease: LeaseSettings = DEFAULT_LEASE,
    say: Callable[[str], None] = _say,
) -> str:
    """Train, select, generate and score one run; record it as done or failed (with its reason).

    The run is trained only under its lease (:mod:`mtlbench.runner.lease`): if another live
    process holds it, nothing is done and :data:`HELD` is returned; if the run is done by the
    time the lease is ours, :data:`DONE` is returned without training it again. ``checkpoints``
    says how often it saves its state inside epochs (never part of its identity). A write that
    fails (a full or read-only store) records the run as failed with its reason; if even that
    cannot be written, :class:`~mtlbench.errors.StoreUnwritable` is raised and the grid stops.

    ``models_dir`` (default $MTLBENCH_MODELS) holds the weights of the extra metric families the
    spec's ``eval.metrics`` names. ``loading`` says how data is read (loader workers, image cache):
    never what the run computes.

    A KeyboardInterrupt or kill leaves the run marked running, so a re-run of the grid redoes it.
    ``trackers``: experiment trackers fed with every training-log entry (not part of the run's identity).
    """
    store = ResultStore(results)
    try:
        held = Lease.acquire(store.path(spec.run_id), lease, say=say)
    except OSError as err:
        raise store.unwritable(err) from err
    if isinstance(held, Holder):
        return HELD
    held.start_heartbeat()
    try:
        if store.state(spec.run_id) == DONE:  # finished by another grid since this one listed its runs
            return DONE
        return _run_leased(
            spec, store, held, device, data_root, on_epoch_end, trackers, models_dir, loading, checkpoints, say
        )
    finally:
        held.release()


def _run_leased(
    spec: RunSpec,
    store: ResultStore,
    lease: Lease,
    device: str | None,
    data_root: Path | None,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None,
    trackers: TrackerSettings | None,
    models_dir: Path | None,
    loading: LoadSettings,
    checkpoints: CheckpointSettings,
    say: Callable[[str], None],
) -> str:
    torch_device = pick_device(device)
    try:
        folder = store.begin(spec, describe_environment(torch_device) | {"loading": asdict(loading)})
    except OSError as err:
        raise store.unwritable(err) from err
    feed = TrackerFeed(trackers, spec)
    try:
        metrics, examples = _train_and_score(
            spec, folder, data_root, torch_device, on_epoch_end, feed, models_dir, loading, checkpoints, lease.check
        )
        store.finish(spec, metrics, examples, fence=lease.fence)
    except LeaseLost as err:  # the run is another process's now: write nothing more to it
        say(str(err))
        return HELD
    except Exception as err:  # a failing run must not stop the grid: record why and go on
        try:
            lease.fence()
        except LeaseLost as lost:
            say(str(lost))
            return HELD
        except OSError:  # the lease cannot even be read: try to record the failure (StoreUnwritable if not)
            pass
        store.fail(spec, err)
        feed.failed()
        return FAILED
    feed.done(metrics)
    return DONE


@dataclass
class Prepared:
    """A run's data and model, built from its spec alone: what training needs before the first step."""

    tokenizer: Tokenizer
    splits: dict[str, StudyDataset]
    loaders: dict[str, DataLoader]
    labeler: Any
    model: Backbone
    sizes: dict[str, int]

    def train_batches(self, seed: int) -> Callable[[int], Any]:
        """Epoch -> its batches; order and augmentation depend only on (seed, epoch), so a resumed
        run sees the same batches."""
        train_set, loader = self.splits["train"], self.loaders["train"]

        def batches(epoch: int) -> Any:
            train_set.set_epoch(epoch)
            loader.sampler.set_epoch(epoch, seed)  # type: ignore[attr-defined]  # an EpochSampler: it reseeds itself
            return loader

        return batches


def prepare(
    spec: RunSpec,
    data_root: Path | None,
    *,
    loading: LoadSettings = DEFAULT_LOADING,
    device: torch.device | None = None,
    memory_caches: bool = False,
) -> Prepared:
    """Load and label the data, build the vocabulary from the train split, build the backbone;
    open (building where needed) the image cache and, for ``feature_cache``, the feature cache.

    ``memory_caches`` keeps both caches in memory, filled as items are read, instead of on disk
    (``mtlbench run --plan`` times a few steps without building whole stores).
    """
    check_feature_cache(spec)
    device = device or torch.device("cpu")
    source = DATASETS.get(spec.dataset)(**dict(spec.data_options))
    settings = source.settings
    labeler = LABELERS.get(spec.eval.labeler).from_config(spec.eval)
    annotation = attach_labels(source.load(data_root), labeler=labeler, cache_dir=label_cache_dir())
    tokenizer = Tokenizer.build(
        [ex.report for ex in annotation.splits["train"]],
        style=settings.cleaning,
        threshold=settings.threshold,
        max_seq_length=settings.max_seq_length,
    )
    num_views = source.views_per_study(annotation)  # IU: the most images a study has, unless capped
    train = spec.train
    pixels: dict[str, Pixels] = {}
    if loading.image_cache:  # the same pixels as decoding each file, once per dataset instead of every epoch
        every = image_needs(
            annotation,
            num_views=num_views,
            image_size=train.image_size,
            augment=train.augment,
            decode=train.image_decode,
        )
        for needs in every:
            if memory_caches:
                pixels[needs.transform.variant] = MemoryPixels(needs.image_dir, needs.transform)
            else:  # unreadable images fail when a run reads them, as without the cache
                pixels[needs.transform.variant], _ = ensure_image_cache(needs)
    backbone_options = check_backbone_options(dict(spec.backbone_options))
    if "extractor_weights" in backbone_options:  # a name relative to the data root, or an absolute path
        backbone_options["extractor_weights"] = str(Path(data_root or ".") / backbone_options["extractor_weights"])
    model = BACKBONES.get(spec.backbone)(
        BackboneConfig(
            vocab_size=tokenizer.vocab_size,
            max_len=settings.max_seq_length,
            tasks=spec.trained_tasks,
            size=spec.size,
            image_size=train.image_size,
            num_views=num_views,
            **backbone_options,
        ),
        decoder=tokenizer,
    )
    features = None
    if model.config.feature_cache:
        (needs,) = image_needs(
            annotation, num_views=num_views, image_size=train.image_size, augment=False, decode=train.image_decode
        )
        if memory_caches:
            eval_pixels = pixels.get("eval") or MemoryPixels(needs.image_dir, needs.transform)
            features = MemoryFeatures(model.visual, eval_pixels, train.image_size)
        else:
            features = ensure_feature_cache(model.visual, needs, pixels=pixels.get("eval"), device=device)
    splits = {
        name: StudyDataset(
            annotation.splits[name],
            Path(annotation.image_dir),
            tokenizer,
            num_views=num_views,
            image_size=train.image_size,
            train=name == "train",
            uncertain=train.cls_uncertain,
            seed=spec.seed,
            augment=train.augment,
            decode=train.image_decode,
            pixels=pixels.get("train" if name == "train" and train.augment else "eval"),
            features=features,
        )
        for name in ("train", "val", "test")
    }
    workers, pin = loading.loader_workers(device), loading.pinned(device)
    loaders = {
        name: make_loader(
            data, batch_size=train.batch_size, shuffle=name == "train", seed=spec.seed, workers=workers, pin_memory=pin
        )
        for name, data in splits.items()
    }
    sizes = {name: len(examples) for name, examples in annotation.splits.items()}
    return Prepared(tokenizer, splits, loaders, labeler, model, sizes)


def _train_and_score(
    spec: RunSpec,
    folder: Path,
    data_root: Path | None,
    device: torch.device,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None,
    observe: Callable[[dict[str, Any]], None] = lambda entry: None,
    models_dir: Path | None = None,
    loading: LoadSettings = DEFAULT_LOADING,
    checkpoints: CheckpointSettings = DEFAULT_CHECKPOINTS,
    guard: Callable[[], None] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    started = time.perf_counter()
    seed_everything(spec.seed)
    prep = prepare(spec, data_root, loading=loading, device=device)
    prep.tokenizer.save(folder / VOCAB)
    model, tokenizer, labeler = prep.model, prep.tokenizer, prep.labeler
    val_loader = prep.loaders["val"]
    val_refs = prep.splits["val"].reference_texts()
    train_config = replace(spec.train, monitor=spec.monitor)  # a model without the report head: its val loss

    def validate(model: Any) -> dict[str, float]:
        figures = mean_losses(model, val_loader, device)
        if train_config.monitor != "loss":
            ids, texts = generate_reports(model, val_loader, device)
            scores = evaluate(ids, texts, val_refs, config=spec.eval, nlg=("BLEU", "ROUGE_L"), clinical=False)
            figures |= scores.corpus
        return figures

    method = create_method(spec.method, **dict(spec.method_params))
    writes_reports = "report" in spec.trained_tasks
    with open(folder / TRAIN_LOG, "a", encoding="utf-8") as log_file:

        def log(entry: dict[str, Any]) -> None:
            log_file.write(json.dumps(entry, default=float) + "\n")
            log_file.flush()
            observe(entry)  # the experiment trackers, if any: fed from the log, unknown to training

        outcome = fit(
            model,
            method,
            prep.train_batches(spec.seed),
            validate,
            config=train_config,
            device=device,
            log=log,
            checkpoint=folder / CHECKPOINT,  # a killed or pre-empted run resumes from its last checkpoint
            checkpoints=checkpoints,
            guard=guard,  # stops at once if the run's lease passed to another process
            on_epoch_end=on_epoch_end,
            seed=spec.seed,  # the method's random stream (RLW, PCGrad's order) follows the run's seed
        )
    trained = time.perf_counter()
    if writes_reports:
        evaluation = _score_reports(spec, model, prep, device, models_dir)
    else:  # a cls- or align-only baseline: its rows carry its own task's outputs only
        evaluation = Evaluation(corpus={}, per_example=[{"id": ex.id} for ex in prep.splits["test"].examples])
    examples, task_corpus, cls_per_label = _score_trained_tasks(spec, model, prep, device, evaluation.per_example)
    metrics = {
        "test": evaluation.corpus | task_corpus,
        "test_per_label": evaluation.per_label,
        "test_per_label_cls": cls_per_label,
        "val": outcome.history[outcome.best_epoch]["val"] if outcome.history else {},
        "best_epoch": outcome.best_epoch,
        "epochs": len(outcome.history),
        "history": outcome.history,
        "diagnostics": outcome.diagnostics,
        "eval": {
            "labeler": spec.eval.labeler,
            "labeler_description": labeler.description,
            "uncertain": spec.eval.uncertain,
            "metrics": list(spec.eval.metrics),
            "texts": evaluation.text_counts,  # empty or cut (over-long) predictions and references
        },
        "model": {
            "parameters": model.num_parameters(),
            "shared_parameters": sum(p.numel() for p in model.shared_parameters()),
        },
        "data": {
            "vocab_size": tokenizer.vocab_size,
            "sizes": prep.sizes,
            "num_views": model.config.num_views,
        },
        "timing": {"train_s": trained - started, "total_s": time.perf_counter() - started},
    }
    if spec.tuning:
        metrics["tuning"] = dict(spec.tuning) | {"trials": dict(spec.tuning)["budget"]}
    return metrics, examples


def _score_reports(
    spec: RunSpec, model: Backbone, prep: Prepared, device: torch.device, models_dir: Path | None
) -> Evaluation:
    """The generated test reports scored by every metric family the spec names."""
    ids, texts = generate_reports(model, prep.loaders["test"], device)
    references = prep.splits["test"].reference_texts()
    evaluation = evaluate(ids, texts, references, config=spec.eval)
    if spec.eval.metrics:
        paths = ModelPaths.from_env(root=models_dir)
        extra = evaluate(ids, texts, references, config=spec.eval, metrics=spec.eval.metrics, paths=paths)
        evaluation = merge(evaluation, extra)
    return evaluation


def _score_trained_tasks(
    spec: RunSpec, model: Backbone, prep: Prepared, device: torch.device, rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, float], dict[str, dict[str, float]]]:
    """The test examples with the outputs of the task heads other than the report added (the cls
    head's probabilities and targets, the align head's retrieval hits), so the leaderboard can
    resample them; their corpus figures; the cls task's per-finding figures."""
    loader, trained = prep.loaders["test"], spec.trained_tasks
    extra: dict[str, dict[str, Any]] = {row["id"]: {} for row in rows}
    corpus: dict[str, float] = {}
    per_label: dict[str, dict[str, float]] = {}
    if "cls" in trained:
        ids, probs, targets = predict_probabilities(model, loader, device)
        scores = score_classification(probs.numpy(), targets.numpy(), CHEXPERT_LABELS)
        corpus |= scores.corpus
        per_label = scores.per_label
        for i, p, t in zip(ids, probs.tolist(), targets.tolist(), strict=True):
            extra[i] |= {"cls_probs": p, "cls_targets": t}
    if "align" in trained:
        ids, images, reports = retrieval_embeddings(model, loader, device)
        texts = dict(zip([ex.id for ex in prep.splits["test"].examples], prep.splits["test"].reference_texts()))
        hits = retrieval_hits(images.numpy(), reports.numpy(), [texts[i] for i in ids])
        corpus |= score_retrieval(hits)
        for i, row in zip(ids, hits.tolist(), strict=True):
            extra[i]["align_hits"] = row
    return [row | extra[row["id"]] for row in rows], corpus, per_label
