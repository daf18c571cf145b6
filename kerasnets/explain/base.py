"""The explainer registry, the options explainers draw from, and recipe-step checking.

Light on purpose (no TensorFlow): recipes with an ``explain:`` list validate without it.
An explainer is ``fn(model, splits, options) -> list[Path]`` (the PNGs it wrote under
``options.out``), registered with the recipe options it reads.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError

from kerasnets.errors import KerasnetsError
from kerasnets.registry import Registry, UnknownNameError

Explainer = Callable[..., list[Path]]  # (model, splits, options) -> written PNG paths
EXPLAINERS: Registry[Explainer] = Registry("explain method", listing="kerasnets explain --help")
ALL = "all"  # every registered method with its defaults

Small = Annotated[int, Field(ge=1, le=256)]


class NotApplicable(KerasnetsError):
    """The method cannot explain this model (an MLP has no filters) or the option is wrong."""


class ExplainOptions(BaseModel):
    """Every explainer option; each method reads the few named in its registry entry."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    images: Small | None = Field(None, description="test images to explain (default per method)")
    layer: str | None = Field(None, description="layer path (default: chosen per method)")
    class_: int | str | None = Field(None, alias="class", description="class index or name")
    channels: list[Annotated[int, Field(ge=0)]] | None = Field(None, description="channel indices")
    top: Small = Field(6, description="patches per channel / neighbours per query")
    patch: Small | None = Field(None, description="occluder side in pixels (default H/5)")
    stride: Small | None = Field(None, description="occluder step in pixels (default patch/3)")
    steps: Annotated[int, Field(ge=1, le=10_000)] | None = Field(None, description="ascent steps")
    learning_rate: PositiveFloat | None = Field(None, description="ascent step size")
    l2: Annotated[float, Field(ge=0, lt=1)] = Field(5e-3, description="class model: L2 decay per step")
    blur: Annotated[float, Field(ge=0)] = Field(0.7, description="class model: blur sigma (pixels)")
    octaves: Annotated[int, Field(ge=1, le=8)] = Field(3, description="DeepDream scales")
    octave_scale: Annotated[float, Field(gt=1, le=4)] = 1.4
    pool: Annotated[int, Field(ge=1, le=100_000)] = Field(2000, description="test images searched")
    seed: int = 0
    out: Path = Field(Path("explain"), description="set by the runner, not by recipes")

    @property
    def klass(self) -> int | str | None:
        return self.class_


def register(name: str, options: tuple[str, ...], doc: str) -> Callable[[Explainer], Explainer]:
    """``@register("saliency", options=("images", "class"), doc=...)``."""
    return EXPLAINERS.register(name, options=options, doc=doc)


def method_names() -> list[str]:
    return [*EXPLAINERS.names(), ALL]


def lookup(name: str) -> Explainer:
    """The explainer for ``name`` ("all" is not one: see ``expand``)."""
    return EXPLAINERS.get(name)


def expand(steps: list[str | dict[str, dict[str, Any] | None]]) -> list[tuple[str, dict[str, Any]]]:
    """Recipe/CLI steps -> ``[(method, options)]`` with ``all`` expanded in place."""
    out: list[tuple[str, dict[str, Any]]] = []
    for step in steps:
        name, args = (step, {}) if isinstance(step, str) else next(iter(step.items()))
        names = EXPLAINERS.names() if name == ALL else [name]
        out += [(n, dict(args or {})) for n in names]
    return out


def check_steps(steps: list[Any]) -> list[tuple[str, str, Any]]:
    """Problems with an ``explain:`` list as ``("[i]...", message, received)``."""
    problems: list[tuple[str, str, Any]] = []
    for i, step in enumerate(steps):
        if isinstance(step, dict) and len(step) == 1:
            ((name, args),) = step.items()
        elif isinstance(step, str):
            name, args = step, None
        else:
            problems.append((f"[{i}]", "expected a method name or one mapping {method: {options}}", step))
            continue
        if name != ALL and name not in EXPLAINERS:
            exc = UnknownNameError("explain method", name, method_names(), EXPLAINERS.listing)
            problems.append((f"[{i}]", exc.message, None))
            continue
        if args is not None and not isinstance(args, dict):
            problems.append((f"[{i}].{name}", "expected a mapping of options", args))
            continue
        problems += [(f"[{i}].{name}.{k}", m, v) for k, m, v in check_options(name, args or {})]
    return problems


def allowed_options(name: str) -> tuple[str, ...]:
    if name == ALL:
        return ()
    return tuple(EXPLAINERS.meta(name)["options"])


def check_options(name: str, args: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Unknown options (with a did-you-mean among the method's own) and wrong values."""
    from kerasnets.pydantic_errors import error_message

    valid = allowed_options(name)
    problems: list[tuple[str, str, Any]] = []
    for key in args:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
            hint = f"Did you mean {close[0]!r}?" if close else f"Valid: {', '.join(valid) or 'none'}"
            problems.append((str(key), f"not an option of explain method {name!r}. {hint}", None))
    try:
        ExplainOptions.model_validate({k: v for k, v in args.items() if k in valid})
    except ValidationError as exc:
        for err in exc.errors():
            message, show = error_message(err)
            problems.append((".".join(map(str, err["loc"])), message, err.get("input") if show else None))
    return problems


def make_options(name: str, args: dict[str, Any], **given: Any) -> ExplainOptions:
    """Validated options for one method: recipe/CLI ``args`` over the runner's ``given``."""
    problems = check_options(name, args)
    if problems:
        key, message, _ = problems[0]
        raise NotApplicable(f"{name}.{key}: {message}")
    return ExplainOptions.model_validate({**given, **args})


# ----------------------------------------------------------------------------- shared helpers


def pick_images(labels, count: int, seed: int = 0) -> list[int]:
    """``count`` test indices, one class after another (varied pictures), reproducible."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(labels))
    chosen: list[int] = []
    seen: set[int] = set()
    for index in order:  # first pass: distinct classes
        if int(labels[index]) not in seen:
            seen.add(int(labels[index]))
            chosen.append(int(index))
    chosen += [int(i) for i in order if int(i) not in set(chosen)]
    return chosen[:count]


def class_index(value: int | str | None, class_names: list[str]) -> int | None:
    """A class given by index or by name; ``None`` stays ``None`` (each image's own class)."""
    if value is None:
        return None
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        if value in class_names:
            return class_names.index(value)
        raise NotApplicable(UnknownNameError("class", value, list(class_names)).message)
    index = int(value)
    if not 0 <= index < len(class_names):
        raise NotApplicable(f"--class: expected a class index from 0 to {len(class_names) - 1}, got {index}")
    return index
