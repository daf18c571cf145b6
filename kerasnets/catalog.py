"""The model catalog: what recipe validation needs to know about every builder, without Keras.

``kerasnets/catalog.json`` is generated from the live registry (``kerasnets.models.MODELS``);
regenerate it after adding a model or changing a builder's signature or registration::

    python -m kerasnets.catalog          # rewrites kerasnets/catalog.json (probes builds: minutes)

``tests/test_catalog.py`` fails while the file and the registry disagree. Per model it holds the
builder's name, ``tasks``, ``options`` (every keyword option but ``input_shape`` and
``num_classes``, in signature order, with a JSON type descriptor and the default), the display
metadata ``params``, ``input_shape``, ``num_classes``, ``source``, and ``min_input``: the
smallest spatial input that builds at the default options (``(H, W)`` with ``H == W`` for
images, at the reference channels; ``(T,)`` for sequences ``(T, F)``, at the reference ``F``).
``min_input_options`` lists the closed-choice option values (``Literal``, ``bool``) that change
it, each probed alone from the defaults. Numeric and list options that change it (``depths``,
``filters``, ``kernel_size``...) are not covered: training still catches the build failure.

The query functions read the JSON only; Keras is imported by the generator alone.
"""

from __future__ import annotations

import functools
import json
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import pydantic

from kerasnets.options import REQUIRED, OptionField, check_against, schema_from_fields, signature_fields
from kerasnets.registry import Registry

CATALOG_PATH = Path(__file__).with_name("catalog.json")
#: Arguments every builder takes from the recipe's data (``kerasnets.models.base.COMMON_ARGS``).
COMMON_ARGS = ("input_shape", "num_classes")
#: The tasks of a builder registered without ``tasks=`` (``kerasnets.models.base.DEFAULT_TASKS``).
DEFAULT_TASKS = ("classify",)
#: The registration metadata shown by ``kerasnets models``.
DISPLAY_KEYS = ("params", "input_shape", "num_classes", "source")

# ----------------------------------------------------------------------------- type descriptors

#: A JSON-able annotation: a scalar name, or a one-key mapping (``literal``, ``union``, ``tuple``,
#: ``list``, ``sequence``, ``dict``); ``{"tuple": ["int", "..."]}`` is ``tuple[int, ...]``.
Descriptor = str | dict[str, Any]
SCALARS: dict[str, Any] = {"int": int, "float": float, "bool": bool, "str": str, "none": type(None)}
SCALARS["any"] = Any
GENERICS: dict[str, Any] = {"tuple": tuple, "list": list, "sequence": Sequence, "dict": dict}
LITERAL_VALUES = (str, int, float, bool, type(None))


def to_descriptor(annotation: Any) -> Descriptor:
    """The descriptor of a builder annotation; ``TypeError`` for any form not supported."""
    if annotation is None:
        return "none"
    for name, scalar in SCALARS.items():
        if annotation is scalar:
            return name
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        if not all(type(v) in LITERAL_VALUES for v in args):
            raise TypeError(f"Literal values must be JSON scalars: {annotation!r}")
        return {"literal": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"union": [to_descriptor(a) for a in args]}
    for name, generic in GENERICS.items():
        if origin is generic and isinstance(annotation, types.GenericAlias) and args:
            items = [d for a in args for d in ([to_descriptor(a)] if a is not Ellipsis else ["..."])]
            return {name: items if name in ("tuple", "dict") else items[0]}
    raise TypeError(
        f"unsupported option annotation {annotation!r}: extend kerasnets.catalog.to_descriptor "
        "(builtin and collections.abc generics, Literal, unions and int/float/bool/str/None work)"
    )


def from_descriptor(descriptor: Descriptor) -> Any:
    """The annotation a descriptor stands for (no ``eval``); ``ValueError`` when unknown."""
    if isinstance(descriptor, str) and descriptor in SCALARS:
        return SCALARS[descriptor]
    if not isinstance(descriptor, dict) or len(descriptor) != 1:
        raise ValueError(f"not a type descriptor: {descriptor!r}")
    ((kind, value),) = descriptor.items()
    if kind == "literal":
        return Literal[tuple(value)]
    if kind == "union":
        return typing.Union[tuple(from_descriptor(d) for d in value)]  # noqa: UP007
    if kind in GENERICS:
        items = value if kind in ("tuple", "dict") else [value]
        args = tuple(Ellipsis if d == "..." else from_descriptor(d) for d in items)
        return GENERICS[kind][args]
    raise ValueError(f"unknown type descriptor kind {kind!r} in {descriptor!r}")


def to_json(value: Any) -> Any:
    """A default as JSON: tuples become lists (``from_json`` turns lists back into tuples)."""
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if value is None or type(value) in LITERAL_VALUES:
        return value
    raise TypeError(f"default {value!r} is not JSON-able: extend kerasnets.catalog.to_json")


def from_json(value: Any) -> Any:
    """A default from the catalog (lists back to tuples: builders take no mutable defaults)."""
    return tuple(from_json(v) for v in value) if isinstance(value, list) else value


# ----------------------------------------------------------------------------- queries


@functools.cache
def load(path: str | None = None) -> dict[str, Any]:
    """The parsed catalog (``CATALOG_PATH`` unless ``path``); read once."""
    return json.loads(Path(path or CATALOG_PATH).read_text(encoding="utf-8"))


@functools.cache
def registry() -> Registry[dict[str, Any]]:
    """The catalog entries in a ``Registry`` (unknown names raise ``UnknownNameError``)."""
    models: Registry[dict[str, Any]] = Registry("model", listing="kerasnets models")
    for name, entry in sorted(load()["models"].items()):
        models.add(name, entry)
    return models


def names() -> list[str]:
    """All catalogued model names, sorted."""
    return registry().names()


def meta(name: str) -> dict[str, Any]:
    """Display metadata (``params``, ``input_shape``, ``num_classes``, ``source``) plus ``tasks``
    and ``min_input`` of model ``name``; raises ``UnknownNameError`` with a did-you-mean."""
    entry = registry().get(name)
    found = {key: from_json(entry[key]) for key in DISPLAY_KEYS if key in entry}
    found["tasks"] = model_tasks(name)
    found["min_input"] = from_json(entry.get("min_input"))
    return found


def model_tasks(name: str) -> tuple[str, ...]:
    """The recipe tasks model ``name`` serves."""
    return tuple(registry().get(name).get("tasks", DEFAULT_TASKS))


def models_for_task(task: str) -> list[str]:
    """The catalogued models that serve ``task``."""
    return [name for name in names() if task in model_tasks(name)]


def option_names(name: str) -> list[str]:
    """The options model ``name`` accepts beyond ``input_shape`` and ``num_classes``."""
    return [option["name"] for option in registry().get(name)["options"]]


def option_fields(name: str) -> tuple[OptionField, ...]:
    """``(option, annotation, default)`` per option of model ``name``, as the live signature."""
    return tuple(
        (o["name"], from_descriptor(o["type"]), from_json(o["default"]) if "default" in o else REQUIRED)
        for o in registry().get(name)["options"]
    )


@functools.cache
def option_schema(name: str) -> type[pydantic.BaseModel]:
    """The pydantic schema of model ``name``'s options (the same as ``options_schema`` live)."""
    return schema_from_fields(registry().get(name)["builder"], option_fields(name))


def check_model_options(name: str, options: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Problems with ``options`` for model ``name`` as ``(option, message, received)``, exactly
    as ``kerasnets.models.check_model_options`` reports them."""
    return check_against(option_schema(name), options, registry().get(name)["builder"])


def min_input(name: str, options: dict[str, Any] | None = None) -> tuple[int, ...] | None:
    """The smallest spatial input (``(H, W)`` or ``(T,)``) model ``name`` builds at with
    ``options``. Each closed-choice option given (``Literal``, ``bool``) needs the minimum probed
    for its value (the default minimum unless recorded); several: the largest. Numeric and list
    options are not covered. A lower bound: segnet also needs multiples of ``2 ** stages``.
    ``None``: not known (not probed, or no size up to twice the reference builds)."""
    entry = registry().get(name)
    base, records = entry.get("min_input"), entry.get("min_input_options", [])
    sizes = [base]
    for option in {record["option"] for record in records} & set(options or {}):
        value = options[option]
        found = [r for r in records if r["option"] == option and same_value(r["value"], value)]
        sizes.append(found[0]["min_input"] if found else base)
    if len(sizes) > 1:
        sizes = sizes[1:]  # the given options' minima replace the default one
    if any(size is None for size in sizes):
        return None
    return tuple(max(axis) for axis in zip(*sizes, strict=True))


def same_value(recorded: Any, given: Any) -> bool:
    """Whether an option value equals a recorded one, type included (``True`` is not ``1``)."""
    return type(recorded) is type(given) and recorded == given


# ----------------------------------------------------------------------------- generator


def describe_model(name: str) -> dict[str, Any]:
    """The catalog entry of a live model, without ``min_input`` (imports ``kerasnets.models``)."""
    from kerasnets.models import MODELS

    fn, registered = MODELS.get(name), MODELS.meta(name)
    options = []
    for option, annotation, default in signature_fields(fn, COMMON_ARGS):
        described = {"name": option, "type": to_descriptor(annotation)}
        options.append(described if default is REQUIRED else {**described, "default": to_json(default)})
    entry = {"builder": fn.__name__, "tasks": list(registered.get("tasks", DEFAULT_TASKS))}
    entry |= {key: to_json(registered[key]) for key in DISPLAY_KEYS if key in registered}
    return {**entry, "options": options}


def closed_choices(descriptor: Descriptor) -> list[Any] | None:
    """Every value of a closed-choice descriptor (bool, Literal, their unions with None)."""
    if descriptor in ("bool", "none"):
        return [False, True] if descriptor == "bool" else [None]
    if isinstance(descriptor, dict) and "literal" in descriptor:
        return list(descriptor["literal"])
    if isinstance(descriptor, dict) and "union" in descriptor:
        parts = [closed_choices(d) for d in descriptor["union"]]
        return None if None in parts else [v for part in parts for v in part]
    return None


def builds(name: str, size: int, options: dict[str, Any]) -> bool:
    """Whether model ``name`` builds on a square image (or sequence) of side ``size``."""
    import keras

    from kerasnets.models import MODELS

    reference = MODELS.meta(name)["input_shape"]
    shape = (size, reference[1]) if len(reference) == 2 else (size, size, *reference[2:])
    try:
        MODELS.get(name)(shape, MODELS.meta(name)["num_classes"], **options)
        return True
    except Exception:  # any failure to build counts as too small
        return False
    finally:
        keras.backend.clear_session(free_memory=False)


def smallest(ok: Callable[[int], bool], start: int, stop: int) -> int | None:
    """The smallest ``n`` in ``[start, stop]`` with ``ok(n)`` (a linear scan: inputs whose size
    must be a multiple of something build at some sizes only); ``None`` when there is none."""
    return next((n for n in range(start, stop + 1) if ok(n)), None)


def smallest_near(ok: Callable[[int], bool], base: int, stop: int) -> int | None:
    """As ``smallest`` for an option value, from the default minimum ``base``: kept when the
    value builds at ``base`` but not at ``base - 1`` (two builds instead of a scan)."""
    if ok(base):
        return base if base == 1 or not ok(base - 1) else smallest(ok, 1, base - 1)
    return smallest(ok, base + 1, stop)


def probe_min_input(name: str, options: list[dict[str, Any]]) -> dict[str, Any]:
    """``min_input`` and ``min_input_options`` of a live model, by building it (slow)."""
    from kerasnets.models import MODELS

    reference = MODELS.meta(name)["input_shape"]
    rank = 1 if len(reference) == 2 else 2
    stop = 2 * max(reference[:rank])
    base = smallest(lambda n: builds(name, n, {}), 1, stop)
    found: dict[str, Any] = {"min_input": None if base is None else [base] * rank, "min_input_options": []}
    for option in options if base is not None else []:
        for value in closed_choices(option["type"]) or []:
            if same_value(value, option.get("default", REQUIRED)):
                continue
            probe = {option["name"]: value}
            size = smallest_near(lambda n, probe=probe: builds(name, n, probe), base, stop)
            if size != base:
                record = {"option": option["name"], "value": value}
                found["min_input_options"].append(
                    {**record, "min_input": None if size is None else [size] * rank}
                )
    return found


def generate(probe: bool = True) -> dict[str, Any]:
    """The whole catalog from the live registry; ``probe=False`` skips ``min_input`` (fast)."""
    from kerasnets.models import MODELS

    models = {}
    for name in MODELS.names():
        entry = describe_model(name)
        models[name] = {**entry, **probe_min_input(name, entry["options"])} if probe else entry
        if probe:
            print(f"{name}: min_input {models[name]['min_input']}", file=sys.stderr, flush=True)
    return {"models": models}


def dumps(catalog: dict[str, Any]) -> str:
    """The catalog as deterministic JSON text (sorted keys, indent 1, trailing newline)."""
    return json.dumps(catalog, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    """``python -m kerasnets.catalog [PATH]``: regenerate the catalog file from the registry."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m kerasnets.catalog",
        description="Regenerate the light model catalog from the live registry (probes builds: minutes).",
    )
    parser.add_argument(
        "path", nargs="?", default=str(CATALOG_PATH), help=f"output file (default {CATALOG_PATH})"
    )
    args = parser.parse_args(argv)
    from kerasnets.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    path = Path(args.path)
    catalog = generate()
    path.write_text(dumps(catalog), encoding="utf-8")
    print(f"wrote {path} ({len(catalog['models'])} models)")


if __name__ == "__main__":
    main()
