"""Check keyword options against a function's signature, typed by its annotations.

The check works on ``(name, annotation, default)`` triples (``OptionField``), read from a live
signature here (``signature_fields``) or from the generated model catalog
(``kerasnets.catalog``); both go through ``schema_from_fields`` and ``check_against``.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import pydantic

from kerasnets.pydantic_errors import error_message

#: One option: name, annotation (``Any`` when unannotated), default (``REQUIRED`` when none).
OptionField = tuple[str, Any, Any]
REQUIRED: Any = ...


def signature_fields(fn: Callable[..., Any], skip: tuple[str, ...] = ()) -> tuple[OptionField, ...]:
    """One ``(name, annotation, default)`` per keyword parameter of ``fn`` (minus ``skip``)."""
    hints = inspect.get_annotations(fn, eval_str=True)
    fields = []
    for param in inspect.signature(fn).parameters.values():
        if param.name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = REQUIRED if param.default is param.empty else param.default
        fields.append((param.name, hints.get(param.name, Any), default))
    return tuple(fields)


def schema_from_fields(label: str, fields: Iterable[OptionField]) -> type[pydantic.BaseModel]:
    """A frozen pydantic model ``{label}_options`` with one field per triple; extra keys forbidden."""
    config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)
    spec = {name: (annotation, default) for name, annotation, default in fields}
    return pydantic.create_model(f"{label}_options", __config__=config, **spec)


@functools.cache
def options_schema(fn: Callable[..., Any], skip: tuple[str, ...]) -> type[pydantic.BaseModel]:
    """A pydantic model with one field per keyword parameter of ``fn`` (minus ``skip``)."""
    return schema_from_fields(fn.__name__, signature_fields(fn, skip))


def option_names(fn: Callable[..., Any], skip: tuple[str, ...] = ()) -> list[str]:
    return list(options_schema(fn, skip).model_fields)


def check_against(
    schema: type[pydantic.BaseModel], options: dict[str, Any], label: str
) -> list[tuple[str, str, Any]]:
    """Problems of ``options`` against ``schema`` as ``(option, message, received)``; ``label``
    names the owner in unknown-option messages. Missing required options are not problems."""
    valid = list(schema.model_fields)
    problems: list[tuple[str, str, Any]] = []
    unknown = [key for key in options if key not in valid]
    for key in unknown:
        close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
        hint = f"Did you mean {close[0]!r}?" if close else f"Valid: {', '.join(valid) or 'none'}"
        problems.append((key, f"unknown option of {label!r}. {hint}", None))
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


def check_options(
    fn: Callable[..., Any], options: dict[str, Any], skip: tuple[str, ...] = ()
) -> list[tuple[str, str, Any]]:
    """Return problems as ``(option, message, received)``; empty when all options fit."""
    return check_against(options_schema(fn, skip), options, fn.__name__)
