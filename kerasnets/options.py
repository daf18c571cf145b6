"""Check keyword options against a function's signature, typed by its annotations."""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from typing import Any

import pydantic

from kerasnets.pydantic_errors import error_message


@functools.cache
def options_schema(fn: Callable[..., Any], skip: tuple[str, ...]) -> type[pydantic.BaseModel]:
    """A pydantic model with one field per keyword parameter of ``fn`` (minus ``skip``)."""
    hints = inspect.get_annotations(fn, eval_str=True)
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints.get(param.name, Any), default)
    config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)
    return pydantic.create_model(f"{fn.__name__}_options", __config__=config, **fields)


def option_names(fn: Callable[..., Any], skip: tuple[str, ...] = ()) -> list[str]:
    return list(options_schema(fn, skip).model_fields)


def check_options(
    fn: Callable[..., Any], options: dict[str, Any], skip: tuple[str, ...] = ()
) -> list[tuple[str, str, Any]]:
    """Return problems as ``(option, message, received)``; empty when all options fit."""
    schema = options_schema(fn, skip)
    valid = list(schema.model_fields)
    problems: list[tuple[str, str, Any]] = []
    unknown = [key for key in options if key not in valid]
    for key in unknown:
        close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
        hint = f"Did you mean {close[0]!r}?" if close else f"Valid: {', '.join(valid) or 'none'}"
        problems.append((key, f"unknown option of {fn.__name__!r}. {hint}", None))
    known = {k: v for k, v in options.items() if k not in unknown}
    try:
        schema.model_validate(known)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            if err["type"] == "missing":
                continue  # required arguments are supplied by the caller, not the recipe
            loc = ".".join(str(p) for p in err["loc"])
            message, show = error_message(err)
            problems.append((loc, message, err.get("input") if show else None))
    return problems
