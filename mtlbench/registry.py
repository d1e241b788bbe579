"""One generic registry for every pluggable kind: methods, backbones, datasets, metrics.

Built-in entries register with a decorator when their package is imported; third-party
entries come from Python entry points and are discovered lazily, on first lookup, so a
broken plugin costs nothing until somebody asks for names, and then only reports itself.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Generic, TypeVar

from mtlbench.errors import ContractError, MtlbenchError, UnknownNameError
from mtlbench.textfiles import shown

T = TypeVar("T")


@dataclass(frozen=True)
class PluginFailure:
    """A plugin entry point that could not be loaded or did not fulfil the contract."""

    name: str
    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name} (from {self.source}): {self.reason}"


class Registry(Generic[T]):
    """Names -> objects of one kind, with aliases, contract checks and entry-point discovery."""

    def __init__(self, kind: str, group: str, check: Callable[[T], None] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._check = check
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._failures: dict[str, PluginFailure] = {}
        self._discovered = False

    def register(self, name: str, *, aliases: Iterable[str] = ()) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(obj: T) -> T:
            self.add(name, obj, aliases=aliases)
            return obj

        return decorate

    def add(self, name: str, obj: T, *, aliases: Iterable[str] = ()) -> None:
        """Register ``obj`` under ``name`` and ``aliases``; a clash with another object is an error."""
        if self._check is not None:
            try:
                self._check(obj)
            except ContractError as err:
                raise ContractError(f"{self.kind} {name!r} does not fulfil its contract: {err}") from None
        for key in (name, *aliases):
            holder = self._aliases.get(key, key)
            existing = self._entries.get(holder)
            if existing is not None and existing is not obj:
                raise MtlbenchError(
                    f"{self.kind} name {key!r} is already taken by {_describe(existing)}; "
                    f"choose another name for {_describe(obj)}"
                )
        self._entries[name] = obj
        for alias in aliases:
            self._aliases[alias] = name
        if hasattr(obj, "__dict__") and not inspect.ismodule(obj):
            with contextlib.suppress(AttributeError, TypeError):
                obj.registered_name = name  # type: ignore[attr-defined]

    def canonical(self, name: str) -> str:
        """The registered name behind ``name`` (which may be an alias)."""
        self._discover()
        key = name.strip()
        key = self._aliases.get(key, key)
        if key in self._entries:
            return key
        if key in self._failures:
            raise MtlbenchError(
                f"{self.kind} plugin failed to load: {self._failures[key]}; fix the plugin, or uninstall the package "
                "that provides it"
            )
        known = sorted(self._entries) + sorted(self._aliases)
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
        hint = ""
        if close:
            target = self._aliases.get(close[0])
            hint = f" Did you mean {close[0]!r}" + (f" (alias of {target!r})?" if target else "?")
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(sorted(self._entries))}."
        )

    def get(self, name: str) -> T:
        return self._entries[self.canonical(name)]

    def names(self) -> list[str]:
        """Registered names in registration order (built-ins first, then plugins)."""
        self._discover()
        return list(self._entries)

    def aliases_of(self, name: str) -> list[str]:
        return sorted(alias for alias, target in self._aliases.items() if target == name)

    def expand(self, spec: str | Iterable[str]) -> list[str]:
        """Turn ``"all"`` or ``"a,b"`` (or a list) into canonical names, keeping order, no repeats."""
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        items = [item.strip() for item in items if item.strip()]
        out: list[str] = []
        for item in items:
            for name in self.names() if item == "all" else [self.canonical(item)]:
                if name not in out:
                    out.append(name)
        if not out:
            raise MtlbenchError(f"no {self.kind} given; choose from: {', '.join(self.names())}")
        return out

    def failures(self) -> list[PluginFailure]:
        self._discover()
        return list(self._failures.values())

    def __contains__(self, name: str) -> bool:
        self._discover()
        return self._aliases.get(name, name) in self._entries

    def _discover(self) -> None:
        """Load the group's entry points once. Whatever a plugin does wrong (fails to import, even
        with SystemExit; names an object that does not fulfil the contract; takes a name that is
        taken) is recorded as its failure in one line and costs the other names nothing."""
        if self._discovered:
            return
        self._discovered = True
        try:
            entries = list(metadata.entry_points(group=self.group))
        except Exception as err:  # broken metadata of some installed package
            self._fail("(entry points)", "installed packages", err)
            return
        for entry in entries:
            source = entry.dist.name if entry.dist is not None else entry.value
            if not _plain_name(entry.name):
                reason = "not a usable name: name it without commas, surrounding spaces or control characters"
                self._fail(repr(entry.name), source, ValueError(reason))
                continue
            try:
                obj = entry.load()
                if inspect.ismodule(obj):
                    continue  # importing the module ran its @register decorators
                if entry.name in self._entries and self._entries[entry.name] is obj:
                    continue  # it registered itself on import
                self.add(entry.name, obj)
            except (Exception, SystemExit) as err:  # a broken plugin must not break the other names
                self._fail(entry.name, source, err)

    def _fail(self, name: str, source: str, err: BaseException) -> None:
        text = str(err).strip()
        reason = f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
        self._failures[name] = PluginFailure(shown(name), shown(source, 120), shown(reason, 300))


def _plain_name(name: str) -> bool:
    """A name the command line can select: ``--methods a,b`` splits on commas and strips spaces."""
    return bool(name) and name == name.strip() and name.isprintable() and "," not in name


def _describe(obj: object) -> str:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{qualname}" if module else qualname


def require_subclass(base: type) -> Callable[[object], None]:
    """Contract check: the registered object is a concrete subclass of ``base``."""

    def check(obj: object) -> None:
        if not (inspect.isclass(obj) and issubclass(obj, base)):
            raise ContractError(f"expected a subclass of {base.__module__}.{base.__qualname__}, got {obj!r}")
        if inspect.isabstract(obj):
            missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
            raise ContractError(f"{obj.__qualname__} leaves abstract methods unimplemented: {missing}")

    return check
