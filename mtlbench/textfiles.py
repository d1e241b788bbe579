"""Strict readers of the text files mtlbench is handed: UTF-8 JSON, JSON Lines and TOML.

Every problem becomes one :class:`~mtlbench.errors.MtlbenchError` line that names the file,
the place (line and column, or the object) and what to do, never a traceback. Conventions:

* **UTF-8 only.** JSON (RFC 8259) and TOML 1.0 both require it. A UTF-8 byte-order mark is
  accepted and dropped (Windows editors and PowerShell write one, and RFC 8259 lets a parser
  ignore it); a UTF-16 or UTF-32 file, or bytes that are not UTF-8 (a Latin-1 file), are refused
  with the byte and its place.
* **Duplicate keys are an error.** Python's json keeps the last value silently; a file with the
  same key twice in one object is ambiguous, so it is refused with the object's line (TOML
  already refuses them).
* Numbers with more digits than Python converts (4300) and nesting deeper than the parser's
  recursion limit are refused as malformed, like any other syntax error.

JSON's non-standard ``NaN`` and ``Infinity`` literals are accepted: Python and pandas write
them, and every reader checks the values it uses.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import json.decoder
import json.scanner
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mtlbench.errors import MtlbenchError

_UTF16_32_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
JSON_FIX = "fix it there (`python -m json.tool FILE` shows the first error; a file that ends early was cut off)"


def _label(path: Path, label: str | None) -> str:
    return label if label is not None else str(path)


def _position(data: bytes | str, offset: int) -> str:
    """'line L, column C' (1-based) of ``offset`` in ``data``."""
    newline = b"\n" if isinstance(data, bytes) else "\n"
    line = data.count(newline, 0, offset) + 1  # type: ignore[arg-type]
    column = offset - (data.rfind(newline, 0, offset) + 1) + 1  # type: ignore[arg-type]
    return f"line {line}, column {column}"


def decode_utf8(data: bytes, *, label: str, error: type[MtlbenchError] = MtlbenchError) -> str:
    """``data`` as text; a UTF-8 byte-order mark is dropped, anything not UTF-8 is refused in one line."""
    for bom, name in _UTF16_32_BOMS:
        if data.startswith(bom):
            raise error(
                f"{label} is {name} text (it starts with a {name} byte-order mark); mtlbench reads UTF-8: "
                f"save it as UTF-8 (e.g. `iconv -f {name} -t UTF-8 FILE > FILE.utf8`)"
            )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        start = err.start + (3 if data.startswith(codecs.BOM_UTF8) else 0)
        raise error(
            f"{label} is not UTF-8 text (byte 0x{data[start]:02x} at {_position(data, start)}); mtlbench reads "
            "UTF-8: convert it, e.g. `iconv -f LATIN1 -t UTF-8 FILE > FILE.utf8` for a Latin-1 file"
        ) from None


def read_bytes(path: Path, *, label: str | None = None, error: type[MtlbenchError] = MtlbenchError) -> bytes:
    """The file's bytes, with one-line errors for a missing or unreadable file."""
    path = Path(path)
    label = _label(path, label)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{label} does not exist; check the path") from None
    except IsADirectoryError:
        raise error(f"{label} is a folder; a file is expected there") from None
    except OSError as err:
        raise error(f"cannot read {label}: {err.strerror or err}; check its permissions") from None


def read_text(path: Path, *, label: str | None = None, error: type[MtlbenchError] = MtlbenchError) -> str:
    """The file as UTF-8 text (see the module docstring for the encoding rules)."""
    path = Path(path)
    return decode_utf8(read_bytes(path, label=label, error=error), label=_label(path, label), error=error)


def _value_problem(err: ValueError) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return "a number has more digits than Python converts (4300)" if "digits" in text else text


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


_STRICT = json.JSONDecoder(object_pairs_hook=_refuse_duplicates)


def _duplicate_place(text: str, key: str) -> str:
    """Where the first object holding ``key`` twice starts: the pure-Python scanner knows positions
    (used only on this error path; the C scanner does the normal parse)."""
    found: list[int] = []

    def parse_object(s_and_end: tuple[str, int], *args: Any, **kwargs: Any) -> tuple[Any, int]:
        pairs, end = json.decoder.JSONObject(s_and_end, *args, **kwargs)
        keys = [k for k, _ in pairs]
        if not found and keys.count(key) > 1:
            found.append(s_and_end[1] - 1)
        return dict(pairs), end

    decoder = json.JSONDecoder(object_pairs_hook=list)
    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    with contextlib.suppress(ValueError, RecursionError):
        decoder.decode(text)
    return f" (the object that starts at {_position(text, found[0])})" if found else ""


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: Any) -> str | None:
    """The first text (key or value) holding an unpaired UTF-16 surrogate, which no UTF-8 output can write."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value
        return None
    if isinstance(value, dict):
        inner = [*value, *value.values()]
    elif isinstance(value, list):
        inner = value
    else:
        return None  # numbers, booleans, null
    for item in inner:
        found = _lone_surrogate(item)
        if found is not None:
            return found
    return None


def parse_json(text: str, *, label: str, error: type[MtlbenchError] = MtlbenchError, fix: str = JSON_FIX) -> Any:
    """``text`` parsed as JSON, refusing duplicate keys and unpaired surrogate escapes (valid JSON,
    but not Unicode text: every later write of such a text would fail); one-line errors that say where."""
    try:
        value = _STRICT.decode(text)
        lone = _lone_surrogate(value) if _SURROGATE_ESCAPE.search(text) else None  # only escapes make them
        if lone is not None:
            raise error(
                f"{label} holds an unpaired surrogate escape (\\ud800-\\udfff) in the text {shown(lone)}: it is not "
                "Unicode text; write the character itself, or its escaped surrogate pair"
            )
        return value
    except json.JSONDecodeError as err:
        raise error(f"{label} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno}); {fix}") from None
    except _DuplicateKey as dup:
        raise error(
            f"{label} has the key {dup.key!r} twice in one object{_duplicate_place(text, dup.key)}; JSON keys must "
            "be unique (the second would silently win): remove or rename one"
        ) from None
    except RecursionError:
        raise error(f"{label} is not valid mtlbench input: it is nested too deeply for a JSON parser") from None
    except ValueError as err:  # e.g. an integer with more digits than Python converts
        raise error(f"{label} is not valid JSON: {_value_problem(err)}; {fix}") from None


def read_json(
    path: Path, *, label: str | None = None, error: type[MtlbenchError] = MtlbenchError, fix: str = JSON_FIX
) -> Any:
    """Read and parse a UTF-8 JSON file strictly (see the module docstring)."""
    path = Path(path)
    return parse_json(read_text(path, label=label, error=error), label=_label(path, label), error=error, fix=fix)


def read_jsonl(
    path: Path, *, label: str | None = None, error: type[MtlbenchError] = MtlbenchError, fix: str = JSON_FIX
) -> list[Any]:
    """One JSON value per non-blank line; an error names the line."""
    path = Path(path)
    label = _label(path, label)
    rows = []
    for number, line in enumerate(read_text(path, label=label, error=error).split("\n"), start=1):
        if line.strip():
            rows.append(parse_json(line, label=f"{label} line {number}", error=error, fix=fix))
    return rows


def read_toml(path: Path, *, label: str | None = None, error: type[MtlbenchError] = MtlbenchError) -> dict[str, Any]:
    """Read and parse a UTF-8 TOML file (TOML itself refuses duplicate keys)."""
    path = Path(path)
    label = _label(path, label)
    text = read_text(path, label=label, error=error)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise error(f"{label} is not valid TOML: {str(err).splitlines()[0]}; fix it there") from None
    except RecursionError:
        raise error(f"{label} is not valid mtlbench input: it is nested too deeply for a TOML parser") from None
    except ValueError as err:  # e.g. an integer with more digits than Python converts, or 2023-02-30
        raise error(f"{label} is not valid TOML: {_value_problem(err)}; fix it there") from None


def shown(value: object, limit: int = 60) -> str:
    """A value from a user's file as a message may quote it: one printable line, not too long."""
    text = value if isinstance(value, str) and value.isprintable() else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_place(keys: Sequence[str | int]) -> str:
    """A JSON path such as ``train[3].labels`` for messages."""
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out
