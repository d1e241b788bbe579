"""Hostile input for every reader: structured mutations of valid JSON, TOML and CSV files.

Each reader has a hypothesis strategy that draws a VALID input (so that mutations land deep in
the structure instead of failing at the first byte) and then mutates it at three levels:

* the value tree: a value replaced by one of another type, a key dropped, an extra key, a key
  given twice, a list emptied or an element repeated, a huge value (long text, 5,000-digit
  number, 100,000-deep nesting, long list);
* the text: control characters, line separators, NUL, ``|||`` inserted;
* the bytes: other encodings (Latin-1, Windows-1252, UTF-16/32, a UTF-8 byte-order mark,
  invalid UTF-8), truncation, flipped, inserted or deleted bytes, or random bytes altogether.

Two targets are not files: plugin entry points (modules that import fine, raise any error,
exit, recurse, register a taken name, or name no usable object, under hostile names) and texts
sent through every metric (control characters, ``|||``, lone surrogates, over-long texts), where
a known last pair must get its known METEOR statistics or the Java process fell out of step.

A target runs one input through the reader and the command that uses it and checks the
contract: it either succeeds or raises :class:`~mtlbench.errors.MtlbenchError` (the command:
exits with one ``Error:`` line), never anything else. ``Outcome`` counts the inputs and
collects every contract breach with its traceback, so the long run in
``benchmarks/reliability_fuzz.py`` can count them instead of stopping at the first; the CI tests
in ``test_hostile_input.py`` turn a breach into a failing example that hypothesis shrinks.
"""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import itertools
import json
import math
import sys
import textwrap
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import strategies as st

from mtlbench.cli import cli
from mtlbench.data.schema import CHEXPERT_LABELS, SPLITS
from mtlbench.errors import MtlbenchError

# ---------------------------------------------------------------------------------------------
# the contract


class Breach(AssertionError):
    """A reader broke the contract: an exception other than MtlbenchError, or a message of several lines."""


@dataclass
class Outcome:
    """What a reader did with the inputs it was given."""

    inputs: int = 0
    accepted: int = 0
    refused: int = 0
    breaches: list[str] = field(default_factory=list)
    messages: Counter[str] = field(default_factory=Counter)
    collect: bool = False
    """True: record breaches and go on (the long run); False: raise them (tests)."""

    def breach(self, text: str) -> None:
        if not self.collect:
            raise Breach(text)
        self.breaches.append(text)


def one_line(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message and "\r" not in message


def call(outcome: Outcome, function: Callable[[], Any]) -> Any:
    """Run one reader call: success, or MtlbenchError in one line; anything else is a breach."""
    try:
        result = function()
    except MtlbenchError as err:
        if not one_line(str(err)):
            outcome.breach(f"message of several lines: {str(err)!r}")
        outcome.messages[_message_kind(str(err))] += 1
        return err
    except Exception:
        outcome.breach(traceback.format_exc())
        return None
    return result


def invoke(outcome: Outcome, args: list[str]) -> Any:
    """Run one command: exit 0, or a clean exit with one ``Error:`` line (or, for ``data check``,
    its report and exit 1); a traceback is a breach."""
    result = CliRunner().invoke(cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        formatted = "".join(traceback.format_exception(result.exception))
        outcome.breach(f"`mtlbench {' '.join(args[:2])}` raised:\n{formatted}")
    elif result.exit_code == 1 and "Error:" in result.output:
        error = result.output[result.output.index("Error:") :]
        if not one_line(error.rstrip("\n")):
            outcome.breach(f"`mtlbench {' '.join(args[:2])}` error of several lines: {error!r}")
        outcome.messages[_message_kind(error)] += 1
    elif result.exit_code not in (0, 1):
        outcome.breach(f"`mtlbench {' '.join(args[:2])}` exit code {result.exit_code}: {result.output[-300:]!r}")
    return result


def _message_kind(message: str) -> str:
    """A message with its paths and quoted values left out, to count kinds of refusals."""
    words = [w for w in message.split() if "/" not in w and not w[:1].isdigit() and "'" not in w and '"' not in w]
    return " ".join(words[:8])


def tally(outcome: Outcome, accepted: bool) -> None:
    outcome.inputs += 1
    if accepted:
        outcome.accepted += 1
    else:
        outcome.refused += 1


# ---------------------------------------------------------------------------------------------
# values, trees and their text


class Raw:
    """Text put into a serialised document as it is (5,000-digit numbers, 100,000-deep nesting)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:20]!r}...)"


class Twice(dict):  # type: ignore[type-arg]
    """An object that is serialised with one of its keys a second time (a duplicate key)."""

    def __init__(self, items: dict[str, Any], key: str, second: Any) -> None:
        super().__init__(items)
        self.key, self.second = key, second


HOSTILE_CHARS = [
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\x00",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\u200b",
    "\xa0",
    "|||",
    "||",
    "\ud800",
    "\udfff",
    "é",
    "\U0001f600",
    "\\",
    '"',
]

hostile_text = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=20),
    st.lists(st.sampled_from([*HOSTILE_CHARS, "the", "heart", "is", "normal", ".", " ", "  "]), max_size=12).map(
        "".join
    ),
)
"""Texts with control characters, separators, lone surrogates and METEOR's ``|||``."""

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3), max_leaves=6
)
huge_values = st.sampled_from(
    [
        Raw("9" * 5000),
        Raw("[" * 100_000 + "]" * 100_000),
        Raw('{"a":' * 20_000 + "1" + "}" * 20_000),
        Raw("1e999999"),
        "x" * 200_000,
        " ".join(["word"] * 50_000),
        list(range(20_000)),
    ]
)


def paths(tree: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a tree of dicts and lists, the root included."""
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from paths(value, (*prefix, index))


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def _set(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(tree, path[:-1])[path[-1]] = value
    return tree


def chance(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in ``one_in`` draws. Not ``integers(0, n) == 0``: hypothesis favours zeros
    (its simplest choices) when it generates from earlier examples, so a middle value is used."""
    return draw(st.integers(0, one_in - 1)) == one_in // 2


MUTATIONS = ("replace", "drop", "extra", "twice", "empty", "repeat", "huge")


@st.composite
def mutated_tree(draw: st.DrawFn, tree: Any, max_mutations: int = 3) -> Any:
    """``tree`` after 0..max_mutations structural mutations (the tree is copied first)."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(0, max_mutations))):
        candidates = list(paths(tree))
        path = draw(st.sampled_from(candidates))
        node = _get(tree, path)
        kind = draw(st.sampled_from(MUTATIONS))
        if kind == "replace":
            tree = _set(tree, path, draw(json_values))
        elif kind == "huge" and chance(draw, 10):  # rare: they are slow to read
            tree = _set(tree, path, copy.deepcopy(draw(huge_values)))  # later mutations must not change the pool
        elif kind == "drop" and path and isinstance(_get(tree, path[:-1]), dict | list):
            del _get(tree, path[:-1])[path[-1]]
        elif kind == "extra" and isinstance(node, dict):
            node[draw(hostile_text)] = draw(json_values)
        elif kind == "twice" and isinstance(node, dict) and node and not isinstance(node, Twice):
            key = draw(st.sampled_from(sorted(node)))
            tree = _set(tree, path, Twice(node, key, draw(json_values)))
        elif kind == "empty" and isinstance(node, dict | list):
            tree = _set(tree, path, {} if isinstance(node, dict) else [])
        elif kind == "repeat" and isinstance(node, list) and node:
            node.append(copy.deepcopy(draw(st.sampled_from(node))))
    return tree


def to_json(tree: Any, *, ascii_only: bool = True) -> str:
    """JSON text of a tree that may hold Raw values and Twice objects (non-finite floats as NaN/Infinity)."""
    if isinstance(tree, Raw):
        return tree.text
    if isinstance(tree, dict):
        pairs = list(tree.items()) + ([(tree.key, tree.second)] if isinstance(tree, Twice) else [])
        inner = ",".join(
            f"{json.dumps(str(k), ensure_ascii=ascii_only)}:{to_json(v, ascii_only=ascii_only)}" for k, v in pairs
        )
        return "{" + inner + "}"
    if isinstance(tree, list):
        return "[" + ",".join(to_json(v, ascii_only=ascii_only) for v in tree) + "]"
    return json.dumps(tree, ensure_ascii=ascii_only)


ENCODINGS = ("utf-8",) * 12 + ("utf-8-sig", "latin-1", "cp1252", "utf-16", "utf-32")


@st.composite
def hostile_bytes(draw: st.DrawFn, text: str) -> bytes:
    """``text`` with text-level insertions, in some encoding, with byte-level damage."""
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(HOSTILE_CHARS)) + text[at:]
    encoding = draw(st.sampled_from(ENCODINGS))
    errors = "surrogatepass" if encoding.startswith("utf-8") else "replace"
    data = text.encode(encoding, errors=errors)
    damage = draw(st.sampled_from(["none"] * 10 + ["truncate", "flip", "insert", "delete", "random"]))
    if damage == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif damage in ("flip", "insert", "delete") and data:
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, max(len(data) - 1, 0)))
            byte = bytes([draw(st.integers(0, 255))])
            data = {
                "flip": data[:at] + byte + data[at + 1 :],
                "insert": data[:at] + byte + data[at:],
                "delete": data[:at] + data[at + 1 :],
            }[damage]
    elif damage == "random":
        data = draw(st.binary(max_size=200))
    return data


@st.composite
def hostile_json_file(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> bytes:
    """A valid document from ``valid``, mutated as a tree, as text and as bytes."""
    tree = draw(mutated_tree(draw(valid)))
    return draw(hostile_bytes(to_json(tree, ascii_only=draw(st.sampled_from([True, True, False])))))


# ---------------------------------------------------------------------------------------------
# annotation.json


report_texts = st.sampled_from(
    ["The heart is normal. No effusion.", "Mild cardiomegaly. Possible small left effusion.", "No acute disease."]
)


@st.composite
def valid_annotation(draw: st.DrawFn) -> dict[str, Any]:
    ids = iter(f"CXR{i}_IM-{i:04d}" for i in range(100))
    splits = {}
    for split in SPLITS:
        examples = []
        for _ in range(draw(st.integers(1, 3))):
            example: dict[str, Any] = {
                "id": next(ids),
                "report": draw(report_texts),
                "image_path": [f"{split}/{len(examples)}/{v}.png" for v in range(draw(st.integers(1, 2)))],
            }
            if draw(st.booleans()):
                example["labels"] = draw(st.lists(st.sampled_from([1, 0, -1, None]), min_size=14, max_size=14))
            if draw(st.booleans()):
                example["study_id"] = draw(st.integers(50_000_000, 59_999_999))
            examples.append(example)
        splits[split] = examples
    return splits


def annotation_target(outcome: Outcome, folder: Path, data: bytes) -> None:
    """load_annotation, data check (library) and `mtlbench data check` on one annotation.json."""
    from mtlbench.data import check_dataset, load_annotation

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "annotation.json").write_bytes(data)
    loaded = call(outcome, lambda: load_annotation(folder / "annotation.json", name="iu_xray"))
    report = call(outcome, lambda: check_dataset(folder, name="iu_xray"))
    if report is not None and not isinstance(report, MtlbenchError):
        for line in report.errors + report.warnings:
            if not one_line(line):
                outcome.breach(f"data check line of several lines: {line!r}")
    invoke(outcome, ["data", "check", str(folder)])
    tally(outcome, loaded is not None and not isinstance(loaded, MtlbenchError))


# ---------------------------------------------------------------------------------------------
# predictions and references (mtlbench eval)


@st.composite
def valid_texts(draw: st.DrawFn, ids: list[str]) -> Any:
    texts = [draw(st.one_of(report_texts, hostile_text)) for _ in ids]
    layout = draw(st.sampled_from(["lists", "texts", "array"]))
    if layout == "array":
        return texts
    return {i: [t] if layout == "lists" else t for i, t in zip(ids, texts)}


@st.composite
def prediction_files(draw: st.DrawFn) -> tuple[bytes, bytes]:
    ids = [str(i) for i in range(draw(st.integers(1, 4)))]
    return draw(hostile_json_file(valid_texts(ids))), draw(hostile_json_file(valid_texts(ids)))


def predictions_target(outcome: Outcome, folder: Path, files: tuple[bytes, bytes]) -> None:
    """read_texts on both files, then `mtlbench eval --no-meteor` on them."""
    from mtlbench.cli.eval import read_texts

    folder.mkdir(parents=True, exist_ok=True)
    preds, refs = folder / "preds.json", folder / "refs.json"
    preds.write_bytes(files[0])
    refs.write_bytes(files[1])
    read = [call(outcome, lambda p=p: read_texts(p)) for p in (preds, refs)]
    result = invoke(outcome, ["eval", "--preds", str(preds), "--refs", str(refs), "--no-meteor"])
    tally(outcome, all(isinstance(r, dict) for r in read) and result.exit_code == 0)


# ---------------------------------------------------------------------------------------------
# texts through every metric, METEOR's Java process included


SENTINEL = "no acute cardiopulmonary abnormality ."


@st.composite
def metric_texts(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Pairs of hostile texts; now and then one over the length limit."""
    pairs = draw(st.lists(st.tuples(hostile_text, hostile_text), min_size=1, max_size=4))
    if chance(draw, 25):
        long_text = " ".join(draw(st.sampled_from(["a", "heart", "b", "normal"])) for _ in range(1_200))
        pairs.append((long_text, draw(report_texts)) if draw(st.booleans()) else (draw(report_texts), long_text))
    return pairs


def metrics_target(outcome: Outcome, pairs: list[tuple[str, str]], sentinel_stats: list[float]) -> None:
    """evaluate() with every family on; a known pair last must get its known METEOR statistics,
    which it would not if the Java process had fallen out of step."""
    from mtlbench.metrics import evaluate
    from mtlbench.metrics.config import EvalConfig

    ids = [str(i) for i in range(len(pairs) + 1)]
    predictions = [p for p, _ in pairs] + [SENTINEL]
    references = [r for _, r in pairs] + [SENTINEL]
    result = call(outcome, lambda: evaluate(ids, predictions, references, config=EvalConfig(meteor=True)))
    if result is not None and not isinstance(result, MtlbenchError):
        got = result.per_example[-1]["stats"]["meteor_stats"]
        if got != sentinel_stats:
            outcome.breach(f"METEOR out of step: the known last pair got {got}, not {sentinel_stats}")
        values = [v for v in result.corpus.values()]
        if not all(math.isfinite(v) for v in values):
            outcome.breach(f"non-finite corpus figures {result.corpus}")
    tally(outcome, result is not None and not isinstance(result, MtlbenchError))


def sentinel_stats() -> list[float]:
    """METEOR's statistics of the known pair, scored alone."""
    from mtlbench.metrics.meteor import meteor

    return [float(v) for v in meteor([SENTINEL], [SENTINEL])[2][0].split()]


# ---------------------------------------------------------------------------------------------
# labels CSV (MIMIC-CXR-JPG chexpert/negbio)


def _csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value


@st.composite
def labels_csv(draw: st.DrawFn) -> tuple[str, bytes]:
    """(file suffix, bytes) of a labels CSV: valid rows, then cells, header and bytes mutated."""
    columns = ["subject_id", "study_id", *CHEXPERT_LABELS]
    if draw(st.booleans()):
        columns = draw(st.permutations(columns))
    rows = []
    for i in range(draw(st.integers(1, 4))):
        row = {name: draw(st.sampled_from(["1.0", "0.0", "-1.0", ""])) for name in CHEXPERT_LABELS}
        rows.append(row | {"subject_id": str(10_000_000 + i), "study_id": str(50_000_001 + i)})
    grid = [list(columns)] + [[row[c] for c in columns] for row in rows]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["cell", "drop_column", "twice", "ragged", "blank_row"]))
        r = draw(st.integers(0, len(grid) - 1))
        if kind == "cell" and grid[r]:
            grid[r][draw(st.integers(0, len(grid[r]) - 1))] = draw(
                st.one_of(
                    hostile_text,
                    st.sampled_from(["2.0", "nan", "inf", "1", "-1", "1e400", " 1.0 ", "s50000001", "9" * 400]),
                )
            )
        elif kind == "drop_column" and len(grid[0]) > 1:
            c = draw(st.integers(0, len(grid[0]) - 1))
            grid = [row[:c] + row[c + 1 :] for row in grid]
        elif kind == "twice" and grid[0]:
            c = draw(st.integers(0, len(grid[0]) - 1))
            grid = [[*row, row[c]] if c < len(row) else row for row in grid]
        elif kind == "ragged":
            grid[r] = grid[r] + ["extra"] if draw(st.booleans()) else grid[r][:-1]
        elif kind == "blank_row":
            grid.insert(max(r, 1), [])
    text = "".join(",".join(_csv_field(v) for v in row) + "\n" for row in grid)
    data = draw(hostile_bytes(text))
    suffix = draw(st.sampled_from([".csv", ".csv", ".csv.gz"]))
    if suffix == ".csv.gz":
        data = gzip.compress(data, mtime=0)
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]
    return suffix, data


def labels_target(outcome: Outcome, folder: Path, file: tuple[str, bytes]) -> None:
    """read_label_csv, then the join onto a small annotation."""
    from mtlbench.data import attach_labels, load_annotation
    from mtlbench.data.labels import read_label_csv

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"labels{file[0]}"
    path.write_bytes(file[1])
    table = call(outcome, lambda: read_label_csv(path))
    annotation_path = folder / "annotation.json"
    if not annotation_path.exists():
        example = {"report": "No effusion.", "image_path": ["a.png"]}
        splits = {s: [example | {"id": f"{s}0", "study_id": 50_000_001 + n}] for n, s in enumerate(SPLITS)}
        annotation_path.write_text(json.dumps(splits))
    annotation = load_annotation(annotation_path, name="mimic_cxr")
    call(outcome, lambda: attach_labels(annotation, csv_path=path))
    tally(outcome, isinstance(table, dict))


# ---------------------------------------------------------------------------------------------
# grid TOML files


def to_toml_value(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(to_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = list(value.items()) + ([(value.key, value.second)] if isinstance(value, Twice) else [])
        return "{" + ", ".join(f"{json.dumps(str(k))} = {to_toml_value(v)}" for k, v in pairs) + "}"
    return json.dumps(str(value))


def to_toml(settings: dict[str, Any]) -> str:
    """A grid file: top-level values first, then [tables] and [tables.of.tables]."""
    lines, tables = [], []
    pairs = list(settings.items()) + ([(settings.key, settings.second)] if isinstance(settings, Twice) else [])
    for key, value in pairs:
        if key in ("train", "eval", "backbone", "params", "sweep", "data") and isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{json.dumps(str(key))} = {to_toml_value(value)}")
    for key, table in tables:
        nested = key in ("params", "sweep", "data") and all(isinstance(v, dict) for v in table.values()) and table
        if nested:
            for name, inner in table.items():
                lines.append(f"[{key}.{json.dumps(str(name))}]")
                lines += [f"{json.dumps(str(k))} = {to_toml_value(v)}" for k, v in inner.items()]
        else:
            lines.append(f"[{key}]")
            lines += [f"{json.dumps(str(k))} = {to_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


toml_values = st.one_of(
    scalars.filter(lambda v: v is not None),
    st.datetimes(),
    st.dates(),
    st.times(),
    st.lists(st.integers(-5, 5), max_size=3),
    st.lists(st.lists(st.floats(0, 4), max_size=2), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@st.composite
def valid_grid(draw: st.DrawFn) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "methods": draw(
            st.lists(st.sampled_from(["ls", "pcgrad", "cagrad", "mgda", "famo"]), min_size=1, max_size=3, unique=True)
        ),
        "datasets": draw(st.sampled_from([["synthetic"], "synthetic", ["synth"], ["iu"]])),
        "seeds": draw(
            st.one_of(
                st.integers(1, 5),
                st.lists(st.integers(0, 99), min_size=1, max_size=3, unique=True),
                st.sampled_from(["3", "1,3,7"]),
            )
        ),
    }
    if draw(st.booleans()):
        settings["train"] = {"epochs": draw(st.integers(1, 30)), "lr": draw(st.floats(1e-5, 1e-2))}
    if draw(st.booleans()):
        settings["eval"] = {"labeler": "rules", "uncertain": draw(st.sampled_from(["positive", "negative"]))}
    if draw(st.booleans()):
        settings["params"] = {"cagrad": {"c": draw(st.floats(0.1, 0.9))}}
    if draw(st.booleans()):
        settings["sweep"] = {"cagrad": {"c": [0.2, 0.4]}}
    if draw(st.booleans()):
        settings["data"] = {"synthetic": {"n_train": draw(st.integers(1, 500)), "label_noise": 0.1}}
    if draw(st.booleans()):
        settings["backbone"] = {"beam_size": draw(st.integers(1, 4))}
    for key, value in (("size", "tiny"), ("tasks", ["report", "cls"]), ("tune", 0), ("description", "a grid")):
        if draw(st.booleans()):
            settings[key] = value
    return settings


@st.composite
def grid_files(draw: st.DrawFn) -> bytes:
    """A valid grid mutated as a tree (values of any TOML type, datetimes included) and as bytes."""
    tree = draw(mutated_tree(draw(valid_grid())))
    if isinstance(tree, dict):
        for _ in range(draw(st.integers(0, 2))):
            candidates = [p for p in paths(tree) if p]
            if candidates:
                tree = _set(tree, draw(st.sampled_from(candidates)), draw(toml_values))
        text = to_toml(tree)
    else:
        text = to_toml_value(tree)
    if chance(draw, 10):  # a table given twice
        text += "[train]\nepochs = 2\n[train]\nepochs = 3\n"
    return draw(hostile_bytes(text))


def grid_target(outcome: Outcome, folder: Path, data: bytes) -> None:
    """load_grid_file (which expands the grid) and then what `mtlbench run` does with the specs
    before training: run ids, hashing, and building each dataset source."""
    from mtlbench.data import DATASETS
    from mtlbench.runner.grid import expand
    from mtlbench.runner.gridfile import grid_from_settings, load_grid_file

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "grid.toml"
    path.write_bytes(data)
    settings = call(outcome, lambda: load_grid_file(path))
    accepted = isinstance(settings, dict)
    if accepted:

        def use() -> None:
            specs = expand(grid_from_settings(settings))
            assert len({spec.run_id for spec in specs}) <= len(specs)
            for key in {(spec.dataset, spec.data_options) for spec in specs}:
                DATASETS.get(key[0])(**dict(key[1]))

        accepted = not isinstance(call(outcome, use), MtlbenchError)
    tally(outcome, accepted)


# ---------------------------------------------------------------------------------------------
# plugin entry points


PLUGIN_BODIES = {
    "good": "from mtlbench.methods import Method, Aggregation\nclass Plugin(Method):\n"
    "    def aggregate(self, grads, losses=None):\n        return Aggregation(direction=grads.sum(0))\n",
    "abstract": "from mtlbench.methods import Method\nclass Plugin(Method):\n    pass\n",
    "not_a_method": "class Plugin:\n    pass\n",
    "instance": "Plugin = 42\n",
    "raises": "raise {error}('{text}')\n",
    "exits": "import sys\nsys.exit({code})\n",
    "syntax": "def broken(:\n",
    "imports_missing": "import mtlbench_no_such_dependency_{n}\n",
    "registers_taken": "from mtlbench.methods import METHODS, Method\n@METHODS.register('pcgrad')\n"
    "class Plugin(Method):\n    def aggregate(self, grads, losses=None):\n        pass\n",
    "recursion": "def f(): return f()\nf()\n",
    "empty": "",
    "none": "Plugin = None\n",
}
ERRORS = [
    "ImportError",
    "RuntimeError",
    "ValueError",
    "KeyError",
    "TypeError",
    "OSError",
    "MemoryError",
    "NotImplementedError",
    "AttributeError",
    "UnicodeError",
    "ZeroDivisionError",
]


@st.composite
def plugin_sets(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """(entry-point name, value, module body) for a few plugins of the methods group."""
    plugins = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["good"] * len(PLUGIN_BODIES) + sorted(PLUGIN_BODIES)))
        body = PLUGIN_BODIES[kind].format(
            error=draw(st.sampled_from(ERRORS)),
            text=draw(st.sampled_from(["", "boom", "line one\\nline two", "x" * 500, "\\u00e9\\ud800"])),
            code=draw(st.sampled_from(["0", "1", "'bye'", "None"])),
            n=draw(st.integers(0, 9)),
        )
        name = draw(st.sampled_from(["unit-sum", "pcgrad", "ls", "x", "my.method", ""]) | hostile_text)
        attribute = draw(st.sampled_from([":Plugin"] * 6 + ["", ":Missing", ":Plugin.deeper", "::", ":1x"]))
        plugins.append((name, attribute, body))
    return plugins


def plugins_target(outcome: Outcome, folder: Path, plugins: list[tuple[str, str, str]], counter: list[int]) -> None:
    """A fresh methods registry discovers these entry points: names(), failures(), get(each)."""
    from mtlbench.methods import METHODS
    from mtlbench.registry import Registry

    folder.mkdir(parents=True, exist_ok=True)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    entries = []
    for name, attribute, body in plugins:
        counter[0] += 1
        module = f"mtlbench_fuzz_plugin_{counter[0]}"
        (folder / f"{module}.py").write_text(body, encoding="utf-8")
        entries.append(metadata.EntryPoint(name=name, value=module + attribute, group="mtlbench.methods"))
    registry = Registry("method", "mtlbench.methods", check=METHODS._check)
    for builtin in METHODS._entries:
        registry.add(builtin, METHODS._entries[builtin], aliases=METHODS.aliases_of(builtin))
    original = metadata.entry_points
    metadata.entry_points = lambda **kwargs: entries  # type: ignore[assignment]
    try:
        names = call(outcome, registry.names)
        failures = call(outcome, registry.failures) or []
        for failure in failures if isinstance(failures, list) else []:
            if not one_line(str(failure)):
                outcome.breach(f"plugin failure of several lines: {str(failure)!r}")
        for name, _, _ in plugins:
            call(outcome, lambda name=name: registry.get(name))
    finally:
        metadata.entry_points = original  # type: ignore[assignment]
    tally(outcome, isinstance(names, list) and len(names) > len(METHODS._entries))  # a plugin was loaded


# ---------------------------------------------------------------------------------------------
# the result store (mtlbench status and report)


STORE_FILES = ("config.json", "status.json", "metrics.json", "examples.jsonl", "train_log.jsonl")


def valid_store(root: Path) -> list[Path]:
    """ls and pcgrad, two seeds each, three test examples per run: a store `report` can rank."""
    from mtlbench.results import atomic_write_json, atomic_write_jsonl, run_dir
    from mtlbench.runner.spec import RunSpec

    folders = []
    for method, quality in (("ls", 0.4), ("pcgrad", 0.6)):
        for seed in (0, 1):
            spec = RunSpec(method=method, dataset="synthetic", seed=seed)
            folder = run_dir(root, spec.run_id)
            rows = []
            for i in range(3):
                labels = [1.0 if (i + j) % 4 == 0 else 0.0 for j in range(14)]
                rows.append(
                    {
                        "id": f"s{i}",
                        "generated": "the heart is normal .",
                        "reference": "the heart is normal .",
                        "labels_generated": labels,
                        "labels_reference": labels[::-1],
                        "stats": {
                            "bleu": {"testlen": 5, "reflen": 5, "guess": [5, 4, 3, 2], "correct": [3, 2, 1, 0]},
                            "rouge_l": quality,
                            "cider": quality,
                            "meteor": quality / 2,
                            "meteor_stats": [5.0, 5.0, 3.0, 3.0] + [0.0] * 16 + [2.0, 5.0, 5.0],
                        },
                    }
                )
            atomic_write_json(folder / "config.json", {"run_id": spec.run_id, "spec": spec.to_dict()})
            atomic_write_jsonl(folder / "examples.jsonl", rows)
            atomic_write_json(
                folder / "metrics.json", {"test": {}, "eval": {"labeler": "rules", "uncertain": "positive"}}
            )
            atomic_write_json(folder / "status.json", {"state": "done", "attempts": 1, "completions": 1})
            (folder / "train_log.jsonl").write_text('{"kind": "epoch", "epoch": 0}\n')
            folders.append(folder)
    return folders


store_damage = st.lists(
    st.tuples(
        st.integers(0, 3), st.sampled_from(STORE_FILES), st.sampled_from(["tree", "tree", "bytes", "delete", "folder"])
    ),
    min_size=1,
    max_size=3,
)
"""(run index, file, kind) damages to a valid store."""


def damage_store(draw: st.DrawFn, folders: list[Path], damages: list[tuple[int, str, str]]) -> None:
    for run, name, kind in damages:
        path = folders[run] / name
        if path.is_dir():
            continue
        if kind in ("delete", "folder"):
            path.unlink(missing_ok=True)
            if kind == "folder":
                path.mkdir()
        elif path.is_file():
            text = path.read_bytes().decode("utf-8", errors="surrogateescape")
            lines = text.splitlines() if name.endswith(".jsonl") else [text]
            index = draw(st.integers(0, max(len(lines) - 1, 0)))
            try:
                tree = json.loads(lines[index]) if kind == "tree" and lines else None
            except (ValueError, RecursionError):  # damaged by an earlier draw
                tree = None
            if tree is not None:
                lines[index] = to_json(draw(mutated_tree(tree)), ascii_only=draw(st.booleans()))
                path.write_bytes("\n".join(lines).encode("utf-8", errors="surrogatepass") + b"\n")
            else:
                path.write_bytes(draw(hostile_bytes(text)))


def store_target(outcome: Outcome, root: Path, draw: st.DrawFn) -> None:
    """`mtlbench status` and `mtlbench report` on a valid store with damaged files."""
    folders = valid_store(root)
    damage_store(draw, folders, draw(store_damage))
    status = invoke(outcome, ["status", str(root)])
    report = invoke(outcome, ["report", str(root), "--resamples", "100", "--format", "markdown"])
    tally(outcome, status.exit_code == 0 and report.exit_code == 0)


READERS = ("annotation", "predictions", "metrics", "labels", "grid", "plugins", "store")


def make_target(reader: str, root: Path) -> Callable[[Outcome, st.DataObject], None]:
    """A function that draws one hostile input of ``reader`` and runs it (files go under ``root``)."""
    folders = (root / str(i) for i in itertools.count())
    counter = [0]
    sentinel = sentinel_stats() if reader == "metrics" else []

    def run(outcome: Outcome, data: st.DataObject) -> None:
        if reader == "annotation":
            annotation_target(outcome, next(folders), data.draw(hostile_json_file(valid_annotation())))
        elif reader == "predictions":
            predictions_target(outcome, next(folders), data.draw(prediction_files()))
        elif reader == "metrics":
            metrics_target(outcome, data.draw(metric_texts()), sentinel)
        elif reader == "labels":
            labels_target(outcome, next(folders), data.draw(labels_csv()))
        elif reader == "grid":
            grid_target(outcome, next(folders), data.draw(grid_files()))
        elif reader == "plugins":
            plugins_target(outcome, root / "plugins", data.draw(plugin_sets()), counter)
        elif reader == "store":
            store_target(outcome, next(folders), data.draw)
        else:
            raise ValueError(f"unknown reader {reader!r}; choose from {READERS}")

    return run


def describe(outcome: Outcome) -> str:
    common = ", ".join(f"{n} x '{k}'" for k, n in outcome.messages.most_common(3))
    return textwrap.shorten(
        f"{outcome.inputs} inputs: {outcome.accepted} accepted, {outcome.refused} refused, "
        f"{len(outcome.breaches)} tracebacks; most common refusals: {common}",
        400,
    )
