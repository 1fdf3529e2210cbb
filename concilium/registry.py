"""Registries for the seams users extend: tools, observations, schedule triggers.

A `Registry` maps names to typed declarations. Built-ins are found by convention: every module
of `package` that defines `attr` (e.g. `TOOL = Tool(...)`) is one entry, so adding a built-in is
adding one file. Other packages add theirs through the entry-point group `entry_points`
(`[project.entry-points."concilium.tools"] mytool = "mypkg.mytool:TOOL"`) or `register()`.
Discovery runs once, on first use. Nothing here imports the rest of concilium.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points
from typing import Generic, Iterator, Protocol, TypeVar


class Named(Protocol):
    name: str


T = TypeVar("T", bound=Named)


class UnknownName(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, what: str, package: str | None = None, attr: str = "", group: str | None = None):
        self.what, self.package, self.attr, self.group = what, package, attr, group
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, item: T) -> T:
        existing = self._items.get(item.name)
        if existing is not None and existing is not item:
            raise ValueError(f"{self.what} {item.name!r} is registered twice")
        self._items[item.name] = item
        return item

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        self._load()
        if name not in self._items:
            raise UnknownName(f"unknown {self.what} {name!r}; known: {', '.join(self.names())}")
        return self._items[name]

    __getitem__ = get

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        self._load()
        return iter([self._items[n] for n in sorted(self._items)])

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.package:
            pkg = importlib.import_module(self.package)
            for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
                item = getattr(importlib.import_module(f"{self.package}.{info.name}"), self.attr, None)
                if item is not None:
                    self.register(item)
        if self.group:
            for ep in entry_points(group=self.group):
                self.register(ep.load())
