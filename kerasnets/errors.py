"""Recipe errors: every problem of a bad recipe, reported at once, one line each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_MAX_VALUE_CHARS = 60


@dataclass(frozen=True)
class Problem:
    """One problem: where (dotted key), what is wrong, and the value received."""

    key: str
    message: str
    received: Any = None
    show_received: bool = False

    def render(self) -> str:
        key = self.key if self.key.isprintable() else self.key.encode("unicode_escape").decode()
        text = f"{key or '(top level)'}: {self.message}"
        if self.show_received:
            text += f", got {_short(self.received)}"
        return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


class KerasnetsError(Exception):
    """A user-facing error: the CLI prints it without a traceback and exits 2."""


class RecipeError(KerasnetsError):
    """A recipe (or a sweep file) with one or more problems."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file, self.problems = file, problems
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = f"{self.file}: {count} problem{'s' if count != 1 else ''}"
        return "\n".join([head, *(f"  {p.render()}" for p in self.problems)])


class DataError(KerasnetsError):
    """A data set that cannot be found or read."""


class TrainingDiverged(KerasnetsError):
    """The loss became NaN or infinite (not bad input: exit code 1)."""
