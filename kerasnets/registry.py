"""One small generic registry used for models, datasets, optimisers, schedules and more."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that is not in a registry; carries the closest valid choices."""

    def __init__(self, kind: str, name: object, choices: list[str], listing: str = "") -> None:
        self.kind, self.name, self.choices, self.listing = kind, name, choices, listing
        super().__init__(self.message)

    @property
    def suggestions(self) -> list[str]:
        return difflib.get_close_matches(str(self.name)[:200], self.choices, n=3, cutoff=0.6)

    @property
    def message(self) -> str:
        shown = repr(self.name) if len(repr(self.name)) <= 60 else repr(self.name)[:57] + "..."
        text = f"unknown {self.kind} {shown}."
        if self.suggestions:
            text += f" Did you mean {self.suggestions[0]!r}?"
        else:
            text += f" Valid: {', '.join(self.choices)}"
        if self.listing:
            text += f" (`{self.listing}`)"
        return text

    def __str__(self) -> str:
        return self.message


class Registry(Generic[T]):
    """Maps names to objects plus free-form metadata (reference counts, sources...)."""

    def __init__(self, kind: str, listing: str = "") -> None:
        self.kind, self.listing = kind, listing
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator: ``@REG.register("name", key=value)``."""

        def decorator(obj: T) -> T:
            self.add(name, obj, **meta)
            return obj

        return decorator

    def add(self, name: str, obj: T, **meta: Any) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj
        self._meta[name] = meta

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.kind, name, self.names(), self.listing) from None

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return dict(self._meta[name])

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
