"""An example metric plugin: a GREEN-style score from an LLM judge that runs on your own machine.

GREEN (Ostmeier et al., Findings of EMNLP 2024; Stanford-AIMI/GREEN) has a language model compare
each generated report with its reference and answer in a fixed format: under "[Clinically
Significant Errors]:" one count per kind of error, "(a) False report of a finding in the
candidate: N." to "(f) Omitting a comparison detailing a change from a prior study: N." (or
"No clinically significant errors."), and under "[Matched Findings]:" the number of findings both
reports share, "N. finding; finding". Per report

    GREEN = matched / (matched + significant errors),   0 when nothing matched,

and 0 for an answer without the error section (green-score's ``return_0_if_no_green_score``).
The corpus figure is the mean over reports; each report's score, its six error counts and its
match count go into its ``stats``, so ``mtlbench eval --per-example`` writes them and the
statistics module can resample them.

The judge is the user's, never a service mtlbench picks:

* ``$MTLBENCH_JUDGE=package.module:function``: your function ``function(references, candidates)
  -> answers`` (one text in GREEN's format per pair), e.g. a client of a model server you run;
* otherwise a causal language model in ``$MTLBENCH_JUDGE_MODEL`` or ``$MTLBENCH_MODELS/GREEN-RadLlama2-7b``
  (downloaded once on another machine), read by transformers from that folder only, every weight
  checked, answering greedily (at most ``$MTLBENCH_JUDGE_MAX_TOKENS``, default 2048, new tokens, as
  green-score's ``max_length``). A GREEN model needs the prompt it was trained on: green-score's
  ``make_prompt`` is used when that package is installed, else :func:`prompt` (fine for any
  instruction-following model, not GREEN's own).

Registered in setup.cfg under the entry-point group ``mtlbench.metrics``; ``mtlbench eval --metrics
green-judge`` runs it, and ``mtlbench list metrics`` says what it needs when no judge is set.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtlbench.errors import MtlbenchError
from mtlbench.metrics import MetricFamily, ModelPaths
from mtlbench.metrics.families import EvalInput
from mtlbench.metrics.local_models import check_loading_info

JUDGE_ENV, MODEL_ENV, TOKENS_ENV = "MTLBENCH_JUDGE", "MTLBENCH_JUDGE_MODEL", "MTLBENCH_JUDGE_MAX_TOKENS"
MODEL_NAME = "GREEN-RadLlama2-7b"
ERRORS = "Clinically Significant Errors"
MATCHED = "Matched Findings"
KINDS = "abcdef"
KIND_NAMES = (
    "False report of a finding in the candidate",
    "Missing a finding present in the reference",
    "Misidentification of a finding's anatomic location/position",
    "Misassessment of the severity of a finding",
    "Mentioning a comparison that isn't in the reference",
    "Omitting a comparison detailing a change from a prior study",
)
Judge = Callable[[Sequence[str], Sequence[str]], Sequence[str]]


def _section(answer: str, title: str) -> str | None:
    """The text under ``[title]:`` up to the next blank line, or None when the answer lacks it."""
    found = re.search(rf"\[{re.escape(title)}\]:\s*(.*?)(?:\n\s*\n|\Z)", answer, re.DOTALL)
    return None if found is None else found.group(1)


def error_counts(answer: str) -> list[int] | None:
    """The six significant-error counts (a)-(f), or None when the answer has no error section.

    A kind may be written "(a)" or, as GPT-4 templates do, "(1)"; a kind not listed counts 0.
    """
    text = _section(answer, ERRORS)
    if text is None:
        return None
    counts = [0] * len(KINDS)
    if text.startswith("No"):
        return counts
    for line in text.splitlines():
        item = re.match(r"\s*\(([a-f1-6])\)[^:]*:\s*(\d+)\.", line)
        if item:
            key = item.group(1)
            counts[KINDS.index(key) if key in KINDS else int(key) - 1] = int(item.group(2))
    return counts


def matched_findings(answer: str) -> int:
    """The number of matched findings: the integer that opens the section ("3. ..."), else 0."""
    text = _section(answer, MATCHED)
    if text is None or text.startswith("No"):
        return 0
    number = re.match(r"(\d+)\.", text)
    return int(number.group(1)) if number else 0


def green(answer: str) -> float:
    """One report's GREEN from its judge's answer."""
    errors, matched = error_counts(answer), matched_findings(answer)
    if errors is None or matched == 0:
        return 0.0
    return matched / (matched + sum(errors))


def prompt(reference: str, candidate: str) -> str:
    """A GREEN-style instruction for a model that was not trained on GREEN's own prompt."""
    kinds = "\n".join(f"({k}) {text}: N." for k, text in zip(KINDS, KIND_NAMES))
    return (
        "Compare the candidate radiology report with the reference report. Count the clinically significant "
        f"errors of each kind and the findings both reports share. Answer exactly as:\n[{ERRORS}]:\n{kinds}\n\n"
        f"[{MATCHED}]:\nN. finding; finding\n\nReference report: {reference}\nCandidate report: {candidate}\n"
    )


class LocalModelJudge:
    """A causal language model from a local folder, every weight checked, answering greedily."""

    def __init__(self, folder: Path, *, max_new_tokens: int = 2048) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not (folder / "config.json").is_file():
            raise MtlbenchError(f"GREEN judge: no config.json in {folder}; put the judge model's files there")
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model, info = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, output_loading_info=True)
        check_loading_info(info, folder, "GREEN judge")
        self.model = model.eval()
        self.max_new_tokens = max_new_tokens
        try:
            self.prompt: Callable[[str, str], str] = importlib.import_module("green_score.utils").make_prompt
        except ImportError:
            self.prompt = prompt

    def _text(self, message: str) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            chat = [{"role": "user", "content": message}]
            return self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        return message

    def __call__(self, references: Sequence[str], candidates: Sequence[str]) -> list[str]:
        import torch

        answers = []
        for reference, candidate in zip(references, candidates):
            inputs = self.tokenizer(self._text(self.prompt(reference, candidate)), return_tensors="pt")
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs,
                    do_sample=False,
                    max_new_tokens=self.max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                )
            answers.append(self.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
        return answers


def _model_folder(paths: ModelPaths) -> Path | None:
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    return paths.folder(MODEL_NAME)


def load_judge(paths: ModelPaths) -> Judge:
    """The user's judge function ($MTLBENCH_JUDGE), else the local judge model."""
    spec = os.environ.get(JUDGE_ENV, "")
    if spec:
        module, _, name = spec.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as err:
            raise MtlbenchError(f"${JUDGE_ENV}={spec}: cannot load that function ({err})") from None
    folder = _model_folder(paths)
    if folder is None:
        raise MtlbenchError(GreenJudge.unavailable(paths) or "no judge")
    return LocalModelJudge(folder, max_new_tokens=int(os.environ.get(TOKENS_ENV, "2048")))


class GreenJudge(MetricFamily):
    """GREEN-style score from a local LLM judge; per example the score, its error counts and matches."""

    keys = ("GREEN",)
    on_request = True

    @classmethod
    def unavailable(cls, paths: ModelPaths) -> str | None:
        if os.environ.get(JUDGE_ENV):
            return None
        folder = _model_folder(paths)
        if folder is not None and (folder / "config.json").is_file():
            return None
        return (
            f"needs a judge: set ${JUDGE_ENV}=module:function (your function(references, candidates) returning "
            f"GREEN-format answers), or put a local causal LM ({MODEL_NAME}) in ${MODEL_ENV} or "
            f"$MTLBENCH_MODELS/{MODEL_NAME}/"
        )

    def compute(self, data: EvalInput) -> tuple[dict[str, float], list[dict[str, Any]]]:
        answers = list(load_judge(data.paths)(list(data.references), list(data.predictions)))
        if len(answers) != len(data.ids):
            raise MtlbenchError(f"GREEN judge: {len(answers)} answers for {len(data.ids)} report pairs")
        rows = [
            {
                "green": green(a),
                "green_errors": error_counts(a) or [0] * len(KINDS),
                "green_matched": matched_findings(a),
            }
            for a in answers
        ]
        scores = np.array([row["green"] for row in rows], float)
        return {"GREEN": float(scores.mean()) if scores.size else 0.0}, rows
