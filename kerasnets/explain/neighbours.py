"""Nearest neighbours in pixel space and in the penultimate layer's feature space
(Krizhevsky et al. 2012, Fig. 4): features group images by content, pixels by layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasnets.explain.base import ExplainOptions, pick_images, register
from kerasnets.explain.plotting import Shared, picture, save_grid

BATCH = 256


def nearest(vectors: np.ndarray, queries: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Euclidean distances of the ``k`` nearest rows to each query (itself excluded)."""
    squared = (vectors**2).sum(1)
    found, dist = [], []
    for q in queries:
        d = np.sqrt(np.maximum(squared + squared[q] - 2 * vectors @ vectors[q], 0))
        d[q] = np.inf
        order = np.argsort(d, kind="stable")[:k]
        found.append(order)
        dist.append(d[order])
    return np.array(found), np.array(dist)


@register(
    "neighbours",
    options=("images", "top", "pool"),
    doc="nearest test images to N queries in pixel space and in penultimate-layer feature space",
)
def neighbours(model, splits, options: ExplainOptions) -> list[Path]:
    from kerasnets.explain import graph

    pool = min(options.pool, len(splits.y_test))
    queries = pick_images(splits.y_test[:pool], options.images or 4, options.seed)
    pixels = splits.normalize(splits.x_test[:pool]).reshape(pool, -1)
    penultimate, name = graph.penultimate_model(model)
    images = splits.x_test[:pool]
    features = np.concatenate(
        [np.asarray(penultimate(splits.normalize(images[s : s + BATCH]))) for s in range(0, pool, BATCH)]
    ).reshape(pool, -1)
    k = min(options.top, pool - 1)
    by_pixels, pixel_d = nearest(pixels, queries, k)
    by_features, feature_d = nearest(features, queries, k)
    names, labels = splits.class_names, splits.y_test
    rows = []
    for r, q in enumerate(queries):
        query = picture(splits.x_test[q])
        query.title = f"query: {names[labels[q]]}"
        row = [query]
        for space, found, dist in (("pixels", by_pixels, pixel_d), ("features", by_features, feature_d)):
            for j, (i, d) in enumerate(zip(found[r], dist[r], strict=True)):
                cell = picture(splits.x_test[i])
                cell.title = (f"{space}: " if j == 0 else "") + f"{names[labels[i]]} {d:.3g}"
                row.append(cell)
            if space == "pixels":
                row.append(None)  # a gap between the two spaces
        rows.append(row)
    title = (
        f"{k} nearest of {pool} test images: pixel space (left) vs {name} features "
        f"({features.shape[1]} values, right); titles: class, Euclidean distance"
    )
    shared = Shared("gray", 0, 255, "pixel value") if splits.input_shape[-1] == 1 else None
    return [save_grid(rows, options.out / "neighbours.png", title, shared, 1.1)]
