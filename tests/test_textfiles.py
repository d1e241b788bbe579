"""The strict readers every input goes through: encodings, duplicate keys, places in messages."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from mtlbench.errors import DataError, MtlbenchError
from mtlbench.textfiles import read_json, read_jsonl, read_toml, shown


def _file(tmp_path: Path, data: bytes | str, name: str = "f.json") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def test_a_utf8_byte_order_mark_is_accepted_and_dropped(tmp_path: Path) -> None:
    assert read_json(_file(tmp_path, codecs.BOM_UTF8 + b'{"a": "\xc3\xa9"}')) == {"a": "é"}
    assert read_toml(_file(tmp_path, codecs.BOM_UTF8 + b"seeds = 3\n", "g.toml")) == {"seeds": 3}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            '{"report": "pleural\n effusion in the right lung"}'.replace("\n", "\\n").encode("latin-1")
            + ',\n"x": "caf\xe9"}'.encode("latin-1"),
            r"f.json is not UTF-8 text \(byte 0xe9 at line 2, column 10\); mtlbench reads UTF-8: convert it, "
            r"e.g. `iconv -f LATIN1 -t UTF-8 FILE > FILE.utf8`",
        ),
        ('{"a": 1}'.encode("utf-16"), r"f.json is UTF-16 text \(it starts with a UTF-16 byte-order mark\); .*iconv"),
        ('{"a": 1}'.encode("utf-32"), r"f.json is UTF-32 text"),
    ],
)
def test_other_encodings_are_refused_with_the_byte_and_the_fix(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(MtlbenchError, match=message) as err:
        read_json(_file(tmp_path, data))
    assert "\n" not in str(err.value)


def test_duplicate_keys_are_an_error_naming_the_key_and_the_object(tmp_path: Path) -> None:
    text = '{"train": [\n  {"id": "a", "report": "x"},\n  {"id": "b", "report": "y", "id": "c"}\n]}'
    with pytest.raises(MtlbenchError, match=r"has the key 'id' twice in one object \(the object that starts at line 3, "
                       r"column 3\); JSON keys must be unique"):  # fmt: skip
        read_json(_file(tmp_path, text))
    with pytest.raises(MtlbenchError, match="key 'a' twice"):  # an escape is the same key
        read_json(_file(tmp_path, '{"a": 1, "\\u0061": 2}'))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": [1, 2', r"is not valid JSON: Expecting ',' delimiter \(line 1, column 12\); fix it there"),
        ("[" * 100_000, "nested too deeply"),
        ("9" * 5000, r"a number has more digits than Python converts \(4300\)"),
        ("", r"Expecting value \(line 1, column 1\)"),
    ],
)
def test_malformed_json_is_one_line_with_its_place(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message) as err:
        read_json(_file(tmp_path, text), error=DataError)
    assert "\n" not in str(err.value)


def test_json_lines_errors_name_the_line(tmp_path: Path) -> None:
    path = _file(tmp_path, '{"id": "a"}\n\n{"id": "b"}\n{"id": \n', "rows.jsonl")
    with pytest.raises(MtlbenchError, match=r"rows.jsonl line 4 is not valid JSON: Expecting value \(line 1, column"):
        read_jsonl(path)
    assert read_jsonl(_file(tmp_path, '{"id": "a"}\n\n{"id": "b"}\n', "ok.jsonl")) == [{"id": "a"}, {"id": "b"}]


def test_toml_errors_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(MtlbenchError, match=r"g.toml is not valid TOML: Cannot overwrite a value \(at line 2"):
        read_toml(_file(tmp_path, "seeds = 3\nseeds = 4\n", "g.toml"))
    with pytest.raises(MtlbenchError, match=r"not valid TOML: .*digits"):
        read_toml(_file(tmp_path, "seeds = " + "9" * 5000 + "\n", "big.toml"))
    with pytest.raises(MtlbenchError, match=r"nope.json does not exist; check the path"):
        read_json(tmp_path / "nope.json")
    with pytest.raises(MtlbenchError, match="is a folder; a file is expected"):
        read_json(tmp_path)


def test_values_from_files_are_quoted_on_one_short_line() -> None:
    assert shown("CXR1_1") == "CXR1_1"
    assert shown("a\nb") == "'a\\nb'"
    assert shown("\ud800") == "'\\ud800'"
    assert len(shown("x" * 1000)) == 60 and shown("x" * 1000).endswith("...")
    assert json.loads(json.dumps(shown([1, "a"]))) == "[1, 'a']"


def test_an_unpaired_surrogate_escape_is_refused_and_a_pair_is_read(tmp_path: Path) -> None:
    """Valid JSON, but no UTF-8 output could write the text later (a report, a leaderboard)."""
    path = tmp_path / "preds.json"
    path.write_text('{"a": ["ok", {"b": "x\\udfffy"}]}')
    with pytest.raises(MtlbenchError, match=r"holds an unpaired surrogate escape .* in the text 'x\\udfffy'") as err:
        read_json(path)
    assert "\n" not in str(err.value)
    path.write_text('{"\\ud800": 1}')
    with pytest.raises(MtlbenchError, match="unpaired surrogate"):
        read_json(path)
    path.write_text('{"a": "\\ud83d\\ude00 \\u00e9"}')
    assert read_json(path) == {"a": "\U0001f600 \u00e9"}
