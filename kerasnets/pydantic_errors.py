"""Turn a pydantic ``ValidationError`` into short, keyed problems with did-you-mean hints."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from kerasnets.errors import Problem

_TYPE_MESSAGES = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "too_short": "too few items",
    "too_long": "too many items",
    "finite_number": "expected a finite number",
}
_BOUND_MESSAGES = {
    "greater_than": "expected a number greater than {gt}",
    "greater_than_equal": "expected a number of at least {ge}",
    "less_than": "expected a number less than {lt}",
    "less_than_equal": "expected a number of at most {le}",
}


def dotted(loc: tuple[Any, ...]) -> str:
    """``("augment", 1, "p")`` -> ``"augment[1].p"``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def submodel(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (``Sub``, ``Sub | None``, ``list[Sub]``...), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = submodel(arg)
            if found:
                return found
    return None


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None or part not in model.model_fields:
            return None
        model = submodel(model.model_fields[part].annotation)
    return model


_TAG_WORDS = {"int", "float", "str", "bool", "dict", "list", "tuple", "none"}


def _schema_loc(loc: tuple[Any, ...], root: type[BaseModel]) -> tuple[Any, ...]:
    """Drop pydantic's union-member tags (``'int'``, ``"literal['full']"``) from a location."""
    clean: list[Any] = []
    model: type[BaseModel] | None = root
    for part in loc:
        if model is not None and part in model.model_fields:
            clean.append(part)
            model = submodel(model.model_fields[part].annotation)
            continue
        if model is None and isinstance(part, str) and ("[" in part or part in _TAG_WORDS):
            continue
        clean.append(part)
        model = None
    return tuple(clean)


def error_message(err: dict[str, Any]) -> tuple[str, bool]:
    """The message for one pydantic error, and whether to append the received value."""
    kind, ctx = err["type"], err.get("ctx", {})
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind], True
    if kind in _BOUND_MESSAGES:
        return _BOUND_MESSAGES[kind].format(**ctx), True
    if kind == "literal_error":
        return f"expected {ctx.get('expected', '')}", True
    if kind == "missing":
        return "required key is missing", False
    return err["msg"].removeprefix("Value error, "), False


def problems_from_validation_error(exc: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """One ``Problem`` per distinct key, in the order pydantic found them."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc = _schema_loc(tuple(err["loc"]), root)
        carried = (err.get("ctx") or {}).get("error")
        if hasattr(carried, "problems"):  # several keyed problems raised by one validator
            for key, message, received in carried.problems:
                full = dotted(loc) + (key if key.startswith("[") else f".{key}" if loc else key)
                problems.append(Problem(full, message, received, received is not None))
            continue
        key = dotted(loc)
        if key in seen:
            continue
        seen.add(key)
        if err["type"] == "extra_forbidden":
            parent = _model_at(root, loc[:-1])
            valid = list(parent.model_fields) if parent else []
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
            where = "at top level" if len(loc) == 1 else f"in {dotted(loc[:-1])}"
            hint = f" Did you mean {close[0]!r}?" if close else f" Valid: {', '.join(valid)}"
            problems.append(Problem(key, f"unknown key {loc[-1]!r} {where}.{hint}"))
            continue
        message, show = error_message(err)
        problems.append(Problem(key, message, err.get("input"), show))
    return problems
