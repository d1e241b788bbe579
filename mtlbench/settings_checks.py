"""One-line checks of the frozen settings dataclasses (ground floor: train and metrics configs use them).

Settings arrive from TOML, JSON and the command line, so a wrong type or value is refused when
the dataclass is built, naming the section and the field, not deep inside a run.
"""

from __future__ import annotations

from dataclasses import fields

from mtlbench.errors import MtlbenchError


def check_setting(section: str, name: str, value: object, ok: bool, expected: str) -> None:
    """Refuse ``section.name = value`` with one line saying what was expected, unless ``ok``."""
    if not ok:
        raise MtlbenchError(f"{section}.{name} = {value!r}: expected {expected}")


def check_setting_types(config: object, section: str) -> None:
    """Every field of the dataclass ``config`` holds a value of its annotated type (int, float, str, bool,
    tuple of str)."""
    for item in fields(config):  # type: ignore[arg-type]
        value = getattr(config, item.name)
        kind = {"int": int, "float": (int, float), "str": str, "bool": bool, "tuple[str, ...]": tuple}[str(item.type)]
        if isinstance(value, bool) and item.type != "bool":
            kind = ()
        check_setting(section, item.name, value, isinstance(value, kind), f"a value of type {item.type}")
