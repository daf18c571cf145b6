"""kerasnets: classic convolutional networks and their training practice, as Keras 3 recipes.

The public API is imported lazily so that ``import kerasnets`` stays cheap (no TensorFlow).
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kerasnets.version import __version__

__all__ = ["__version__", "build_model", "list_models", "load_recipe", "run"]


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, **options: Any):
    """Build a registered model (see ``kerasnets.models.build``)."""
    from kerasnets.models import build

    return build(name, input_shape, num_classes, **options)


def list_models() -> list[str]:
    """Names of every registered model."""
    from kerasnets.models import names

    return names()


def load_recipe(path: str, overrides: list[str] | None = None):
    """Load, merge and validate a recipe file (see ``kerasnets.recipe.load_recipe``)."""
    from kerasnets.recipe import load_recipe as _load

    return _load(path, overrides or [])


def run(recipe: Any, **kwargs: Any):
    """Train and evaluate one recipe, tracked in MLflow (see ``kerasnets.train.loop.run``)."""
    from kerasnets.train.loop import run as _run

    return _run(recipe, **kwargs)
