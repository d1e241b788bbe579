"""The generic registry: registration, aliases, clashes, contracts, unknown names, plugins."""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib import metadata

import pytest

from mtlbench.errors import ContractError, MtlbenchError, UnknownNameError
from mtlbench.registry import Registry, require_subclass


class Base(ABC):
    @abstractmethod
    def run(self) -> int: ...


def make_registry() -> Registry:
    return Registry("widget", "mtlbench.test-widgets-none", check=require_subclass(Base))


def test_register_with_aliases_and_expand_all() -> None:
    reg = make_registry()

    @reg.register("alpha", aliases=("a",))
    class Alpha(Base):
        def run(self) -> int:
            return 1

    @reg.register("beta")
    class Beta(Base):
        def run(self) -> int:
            return 2

    assert reg.get("a") is Alpha
    assert reg.canonical("a") == "alpha"
    assert reg.expand("all") == ["alpha", "beta"]
    assert reg.expand("beta,a,alpha") == ["beta", "alpha"]
    assert reg.aliases_of("alpha") == ["a"]
    assert "a" in reg and "gamma" not in reg


def test_name_clash_is_an_error() -> None:
    reg = make_registry()

    class One(Base):
        def run(self) -> int:
            return 1

    class Two(Base):
        def run(self) -> int:
            return 2

    reg.add("one", One, aliases=("x",))
    with pytest.raises(MtlbenchError, match="already taken"):
        reg.add("two", Two, aliases=("x",))
    with pytest.raises(MtlbenchError, match="already taken"):
        reg.add("one", Two)


def test_contract_is_checked() -> None:
    reg = make_registry()

    class NotABase:
        pass

    class Abstract(Base):
        pass

    with pytest.raises(ContractError, match="subclass"):
        reg.add("bad", NotABase)
    with pytest.raises(ContractError, match="run"):
        reg.add("abstract", Abstract)


def test_unknown_name_lists_known_names_and_closest_match() -> None:
    reg = make_registry()

    class Gradient(Base):
        def run(self) -> int:
            return 0

    reg.add("pcgrad", Gradient)
    reg.add("nashmtl", Gradient, aliases=("nash",))
    with pytest.raises(UnknownNameError) as info:
        reg.get("pcgard")
    message = str(info.value)
    assert "Did you mean 'pcgrad'?" in message
    assert "Known widgets: nashmtl, pcgrad" in message
    assert "\n" not in message
    with pytest.raises(UnknownNameError, match=r"Did you mean 'nash' \(alias of 'nashmtl'\)\?"):
        reg.get("nasch")


class _FakeEntryPoint:
    def __init__(self, name: str, target: object, fails: bool = False) -> None:
        self.name, self.value, self.dist = name, f"fake:{name}", None
        self._target, self._fails = target, fails

    def load(self) -> object:
        if self._fails:
            raise ImportError("No module named 'missing_dependency'")
        return self._target


def test_entry_point_discovery_reports_broken_plugins_and_keeps_the_rest(monkeypatch) -> None:
    class Plugin(Base):
        def run(self) -> int:
            return 7

    points = [_FakeEntryPoint("good", Plugin), _FakeEntryPoint("bad", None, fails=True)]
    monkeypatch.setattr(metadata, "entry_points", lambda group: points)
    reg = make_registry()
    assert reg.get("good") is Plugin
    assert [f.name for f in reg.failures()] == ["bad"]
    with pytest.raises(MtlbenchError, match=r"bad.*missing_dependency"):
        reg.get("bad")


def test_entry_point_violating_the_contract_is_reported(monkeypatch) -> None:
    monkeypatch.setattr(metadata, "entry_points", lambda group: [_FakeEntryPoint("notclass", 42)])
    reg = make_registry()
    assert reg.names() == []
    (failure,) = reg.failures()
    assert "contract" in failure.reason


def test_a_plugin_that_exits_or_has_a_multi_line_error_is_one_failure_line(monkeypatch) -> None:
    class Exits(_FakeEntryPoint):
        def load(self) -> object:
            raise SystemExit("usage: plugin [-h]\nplugin: error: unrecognized arguments")

    points = [Exits("exits", None), _FakeEntryPoint("bad\nname", None)]
    monkeypatch.setattr(metadata, "entry_points", lambda group: points)
    reg = make_registry()
    assert reg.names() == []
    failures = {f.name: str(f) for f in reg.failures()}
    assert failures["exits"] == "exits (from fake:exits): SystemExit: usage: plugin [-h]"
    assert "not a usable name" in failures["'bad\\nname'"]
    with pytest.raises(MtlbenchError, match=r"plugin failed to load: exits .*; fix the plugin, or uninstall"):
        reg.get("exits")
