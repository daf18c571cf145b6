"""The model registry: every builder is one decorated function returning an uncompiled model."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from kerasnets.options import check_options, option_names
from kerasnets.registry import Registry

Builder = Callable[..., Any]  # (input_shape, num_classes, **options) -> keras.Model
MODELS: Registry[Builder] = Registry("model", listing="kerasnets models")

#: Arguments every builder takes and the recipe supplies from the data, not from options.
COMMON_ARGS = ("input_shape", "num_classes")

#: Keras walks a functional graph recursively (building, saving and loading it): ResNet-1202's
#: ~4,000 layers need more Python frames than the default 1,000 allow.
DEEP_GRAPH_RECURSION_LIMIT = 30_000
sys.setrecursionlimit(max(sys.getrecursionlimit(), DEEP_GRAPH_RECURSION_LIMIT))

#: The tasks a builder serves unless its registration says otherwise (``tasks=(...)``).
DEFAULT_TASKS = ("classify",)


def register_model(name: str, **meta: Any) -> Callable[[Builder], Builder]:
    """Register a builder. Useful metadata: ``params`` (reference count), ``input_shape``,
    ``num_classes`` (the reference configuration), ``source`` (where the count comes from)
    and ``tasks`` (the recipe tasks it serves; default ``("classify",)``).
    """
    return MODELS.register(name, **meta)


def names() -> list[str]:
    """All registered model names."""
    return MODELS.names()


def model_tasks(name: str) -> tuple[str, ...]:
    """The recipe tasks model ``name`` serves."""
    return tuple(MODELS.meta(name).get("tasks", DEFAULT_TASKS))


def models_for_task(task: str) -> list[str]:
    """The registered models that serve ``task``."""
    return [name for name in MODELS.names() if task in model_tasks(name)]


def model_options(name: str) -> list[str]:
    """The options a builder accepts beyond ``input_shape`` and ``num_classes``."""
    return option_names(MODELS.get(name), COMMON_ARGS)


def check_model_options(name: str, options: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Problems with ``options`` for model ``name`` (unknown options, wrong types)."""
    return check_options(MODELS.get(name), options, COMMON_ARGS)


def build(
    name: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    **options: Any,
):
    """Build model ``name`` (an uncompiled ``keras.Model``); options are checked first."""
    problems = check_model_options(name, options)
    if problems:
        key, message, received = problems[0]
        raise ValueError(f"{name}: {key}: {message} (got {received!r})")
    return MODELS.get(name)(tuple(input_shape), int(num_classes), **options)
