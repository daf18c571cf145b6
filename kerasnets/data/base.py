"""The data set registry and what every loader shares: ``DATASETS``, ``RawData`` and the image
suffixes read from folders.

Loader modules (``kerasnets.data.datasets``, ``kerasnets.data.segmentation``) import this one
and register themselves on import; ``kerasnets.data.datasets`` imports every loader module, so
import the registry from there to see all data sets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerasnets.registry import Registry

Loader = Callable[..., "RawData"]
DATASETS: Registry[Loader] = Registry("dataset")

#: Arguments every loader takes and the recipe supplies, not ``data.options``.
LOADER_ARGS = ("search", "image_size")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass
class RawData:
    """Images as ``(N, H, W, C)`` arrays (or ``ImageFiles``) and integer labels; ``x_test`` and
    ``x_val`` may be absent."""

    x_train: np.ndarray
    y_train: np.ndarray
    class_names: list[str]
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    source: str = ""
    notes: dict[str, Any] = field(default_factory=dict)
    x_val: Any = None  # an official validation split (folders with val/), else cut from train
    y_val: np.ndarray | None = None
