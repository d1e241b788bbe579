"""R2Gen's report cleaning, quirk by quirk, and the tokenizer built on it."""

from __future__ import annotations

from pathlib import Path

from mtlbench.data import Tokenizer, clean_report


def test_iu_cleaning_lowercases_splits_on_period_space_and_strips_punctuation() -> None:
    raw = "The heart is normal in size. The mediastinum is unremarkable. The lungs are clear."
    assert (
        clean_report(raw, "iu_xray")
        == "the heart is normal in size . the mediastinum is unremarkable . the lungs are clear ."
    )


def test_double_periods_collapse_before_sentences_are_split() -> None:
    assert clean_report("Clear.. Normal", "iu_xray") == "clear . normal ."
    # three rounds of '..' -> '.' leave two of nine dots; the sentence cleaner then drops them
    assert clean_report("a" + "." * 9 + " b", "iu_xray") == "a . b ."


def test_list_numbering_is_removed_by_literal_replacements() -> None:
    assert clean_report("1. No effusion. 2. No pneumothorax.", "iu_xray") == "no effusion . no pneumothorax ."
    # "1. " anywhere goes, so "11. " keeps only "1"; item 6 keeps its number
    assert clean_report("Rib 11. Normal", "iu_xray") == "rib 1normal ."
    assert clean_report("Normal. 6. Clear", "iu_xray") == "normal . 6 . clear ."


def test_the_character_range_quirk_deletes_angle_brackets_equals_and_at() -> None:
    # [.,?;*!%^&_+():-\[\]{}] holds the range ':'..'[' which covers < = > @ too
    assert clean_report("size <= 5 @ base > x", "iu_xray") == "size  5  base  x ."
    # and the '-' between ':' and '[' is a range operator, not a character: hyphens survive
    assert clean_report("xxxx opacity (left) - stable", "iu_xray") == "xxxx opacity left - stable ."


def test_empty_sentences_are_kept_as_r2gen_does() -> None:
    assert clean_report("Normal. . Clear.", "iu_xray") == "normal .  . clear ."


def test_mimic_cleaning_handles_newlines_and_underscores() -> None:
    raw = "FINDINGS:\nHeart size is normal.\n___ noted.  No  effusion."
    assert clean_report(raw, "mimic_cxr") == "findings heart size is normal .  noted . no effusion ."


def test_tokenizer_vocabulary_threshold_sorting_and_round_trip(tmp_path: Path) -> None:
    reports = ["The heart is normal.", "The heart is enlarged.", "The lungs are clear.", "The heart is normal."]
    tokenizer = Tokenizer.build(reports, style="iu_xray", threshold=2, max_seq_length=60)
    assert [tokenizer.idx2token[i] for i in range(1, tokenizer.vocab_size)] == [
        ".",
        "<unk>",
        "heart",
        "is",
        "normal",
        "the",
    ]
    ids = tokenizer.encode("The heart is enlarged.")
    assert ids[0] == 0 and ids[-1] == 0
    assert tokenizer.decode(ids[1:]) == "the heart is <unk> ."
    assert tokenizer.decode(ids) == ""  # R2Gen's decode stops at the first 0: pass ids without BOS
    tokenizer.save(tmp_path / "vocab.json")
    again = Tokenizer.load(tmp_path / "vocab.json")
    assert again.encode("the lungs") == tokenizer.encode("the lungs")


def test_encode_truncates_like_r2gen_dropping_the_end_token() -> None:
    tokenizer = Tokenizer.build(["a b c d e f"] * 3, style="iu_xray", threshold=1, max_seq_length=4)
    assert tokenizer.encode("a b c d e f") == [0, 3, 4, 5]  # ids: "." 1, "<unk>" 2, "a" 3, ...


def test_real_iu_reports_build_the_vocabulary(shared_iu: Path) -> None:
    from mtlbench.data import load_annotation

    annotation = load_annotation(shared_iu / "annotation.json", name="iu_xray")
    assert {k: len(v) for k, v in annotation.splits.items()} == {"train": 3062, "val": 382, "test": 382}
    tokenizer = Tokenizer.build(
        [ex.report for ex in annotation.splits["train"]], style="iu_xray", threshold=3, max_seq_length=60
    )
    assert tokenizer.vocab_size == 1105  # 1,103 words seen >= 3 times, <unk>, and id 0


def test_more_quirks_pinned_against_r2gens_cleaners() -> None:
    # periods inside numbers are deleted with the rest of the punctuation: "1.5 cm" becomes "15 cm"
    assert clean_report("Size 1.5 cm.", "iu_xray") == "size 15 cm ."
    # apostrophes and slashes are deleted, gluing the words ("and/or" -> "andor")
    assert clean_report("Patient's and/or XXXX", "iu_xray") == "patients andor xxxx ."
    # characters outside the class survive: hyphens, '#', '$', '~'
    assert clean_report("X-ray #2 $5 ~ok", "iu_xray") == "x-ray #2 $5 ~ok ."
    # every character of the class goes, ';' included, so sentences are split on '. ' only
    assert clean_report('ratio <0.5> @ "x" [a] {b} (c) d;e, f?g!h*i%j^k&l_m+n', "iu_xray") == (
        "ratio 05  x a b c de fghijklmn ."
    )
    # IU keeps newlines (the tokenizer's split() treats them as spaces); MIMIC turns them into spaces
    assert (
        clean_report("FINDINGS:\n\n1. Clear.  2. No __ effusion", "iu_xray") == "findings\n\nclear .  . no  effusion ."
    )
    assert clean_report("FINDINGS:\n\n1. Clear.  2. No __ effusion", "mimic_cxr") == "findings clear . no  effusion ."


def test_every_real_iu_report_is_cleaned_as_verified_against_r2gen(shared_iu: Path) -> None:
    """Digest of all 3,826 cleaned reports; when written it was checked equal, report by report, to
    R2Gen's own clean_report_iu_xray / clean_report_mimic_cxr (and on 200,000 random strings)."""
    import hashlib
    import json

    data = json.loads((shared_iu / "annotation.json").read_text())
    reports = [ex["report"] for split in ("train", "val", "test") for ex in data[split]]
    digests = {
        style: hashlib.sha256("\n".join(clean_report(r, style) for r in reports).encode()).hexdigest()
        for style in ("iu_xray", "mimic_cxr")
    }
    assert digests == {
        "iu_xray": "3321e5081c6665965af667d5006b6f3d0f00b91529fe71c0888f259cb030316a",
        "mimic_cxr": "251fa0235643df8e4319d344fe86b49c823ef16a1a6f312bb9ebd79758346a3c",
    }


def test_per_dataset_tokenizer_settings_are_r2gens() -> None:
    from mtlbench.data import DATASETS

    iu, mimic = DATASETS.get("iu").settings, DATASETS.get("mimic").settings
    assert (iu.cleaning, iu.threshold, iu.max_seq_length, iu.num_views) == ("iu_xray", 3, 60, None)  # all views
    assert (mimic.cleaning, mimic.threshold, mimic.max_seq_length, mimic.num_views) == ("mimic_cxr", 10, 100, 1)


def test_unknown_cleaning_style_and_unreadable_vocabulary(tmp_path: Path) -> None:
    import pytest

    from mtlbench.errors import DataError

    with pytest.raises(ValueError, match="unknown cleaning style 'chexpert'"):
        clean_report("x", "chexpert")
    (tmp_path / "vocab.json").write_text('{"tokens": [')
    with pytest.raises(
        DataError, match=r"the vocabulary .*vocab.json is not valid JSON: .*pass the vocab.json that a run wrote"
    ):
        Tokenizer.load(tmp_path / "vocab.json")
