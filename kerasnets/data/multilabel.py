"""Multi-label data: several classes per image, labels as multi-hot vectors ``(N, classes)``.

``shapes_multilabel`` reuses the generated shapes of ``kerasnets.data.segmentation``: an image
is labelled with every kind of shape that is visible in it (circle, square, triangle), so a
classifier needs a sigmoid head (``model.head_activation: sigmoid``), one independent
probability per class, and a binary cross-entropy or L2 loss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasnets.data.base import DATASETS, RawData
from kerasnets.data.segmentation import SHAPE_CLASSES, make_shapes
from kerasnets.errors import DataError


def visible_kinds(masks: np.ndarray, kinds: int, min_pixels: int) -> np.ndarray:
    """Multi-hot ``(N, kinds)`` int32: class ``k`` (mask id ``k + 1``) covers at least
    ``min_pixels`` pixels of the image (later shapes may hide earlier ones)."""
    counts = np.stack([(masks == k + 1).sum(axis=(1, 2)) for k in range(kinds)], axis=1)
    return (counts >= min_pixels).astype(np.int32)


@DATASETS.register("shapes_multilabel", classes=3, shape=None, multilabel=True)
def shapes_multilabel(
    search: list[Path],
    image_size: tuple[int, int] | None = None,
    num_samples: int = 2000,
    size: int = 32,
    max_shapes: int = 3,
    noise: float = 16.0,
    seed: int = 0,
    min_pixels: int = 4,
) -> RawData:
    """Generated multi-label images (no files): 1 to ``max_shapes`` filled circles, squares and
    triangles per ``size`` x ``size`` image (as data set ``shapes``); the labels say which of
    the three kinds are visible (at least ``min_pixels`` pixels), e.g. ``[1, 0, 1]`` = a circle
    and a triangle. The same ``seed`` gives the same data."""
    if num_samples < 2 or size < 8 or max_shapes < 1 or noise < 0 or min_pixels < 1:
        raise DataError(
            "data set 'shapes_multilabel' needs num_samples >= 2, size >= 8, max_shapes >= 1, "
            f"noise >= 0 and min_pixels >= 1, got num_samples={num_samples}, size={size}, "
            f"max_shapes={max_shapes}, noise={noise}, min_pixels={min_pixels}"
        )
    images, masks = make_shapes(num_samples, size, max_shapes, noise, seed)
    names = SHAPE_CLASSES[1:]  # no background class: each label says whether a kind is there
    labels = visible_kinds(masks, len(names), min_pixels)
    return RawData(images, labels, list(names), source=f"generated (seed {seed}), multi-label")
