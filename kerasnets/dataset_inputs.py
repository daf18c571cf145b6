"""A run's data set as MLflow dataset inputs, in two steps: ``describe_splits`` (the training
process: names, sizes, content digests and one example row of each array) and
``mlflow_inputs`` (the tracking process: MLflow datasets rebuilt from those descriptions,
without the data crossing between the processes)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: arrays up to this size are hashed whole for their digest; larger ones by evenly spaced rows
DIGEST_BYTES = 64 * 2**20
CONTEXTS = {"train": "training", "validation": "validation", "test": "test"}


@dataclass(frozen=True)
class SplitDescription:
    """One split as an MLflow dataset needs it: arrays by their first row and shape only."""

    name: str  # <dataset>-<split>
    context: str  # training, validation, test
    dataset: str  # the recipe's data.dataset
    source: str  # where the data came from: a folder, a file or a description
    digest: str
    examples: int
    x_row: np.ndarray | None  # None: image files, described and never loaded
    x_shape: tuple[int, ...]
    y_row: np.ndarray
    y_shape: tuple[int, ...]


def digest(x: Any, y: np.ndarray) -> str:
    """A short content hash of one split: the labels and the images (all of them up to
    ``DIGEST_BYTES``, else evenly spaced rows); image files by path and size, never decoded."""
    h = hashlib.blake2b(digest_size=16)
    if hasattr(x, "paths"):  # image files
        for path in x.paths:
            try:
                size = os.stat(path).st_size
            except OSError:
                size = -1
            h.update(f"{path}\0{size}\n".encode())
    else:
        x = np.asarray(x)
        step = max(1, -(-x.nbytes // DIGEST_BYTES))
        h.update(repr((x.shape, str(x.dtype), step)).encode())
        h.update(np.ascontiguousarray(x[::step]).data)
    h.update(np.ascontiguousarray(y).data)
    return h.hexdigest()[:16]


def describe_splits(recipe: Any, splits) -> list[SplitDescription]:
    """Each non-empty split of ``splits`` described for ``mlflow_inputs``."""
    parts = {
        "train": (splits.x_train, splits.y_train),
        "validation": (splits.x_val, splits.y_val),
        "test": (splits.x_test, splits.y_test),
    }
    described = []
    for split, (x, y) in parts.items():
        if y is None or not len(y):
            continue
        y = np.asarray(y)
        files = hasattr(x, "paths")
        described.append(
            SplitDescription(
                name=f"{recipe.data.dataset}-{split}",
                context=CONTEXTS[split],
                dataset=recipe.data.dataset,
                source=splits.source,
                digest=digest(x, y),
                examples=len(y),
                x_row=None if files else np.array(np.asarray(x[:1])),
                x_shape=(len(y),) if files else tuple(np.shape(x)),
                y_row=np.array(y[:1]),
                y_shape=y.shape,
            )
        )
    return described


def mlflow_inputs(described: list[SplitDescription]) -> list[tuple[Any, str, dict[str, str]]]:
    """(MLflow dataset, context, input tags) for each split: a ``NumpyDataset`` whose schema
    and profile are the real arrays' (rebuilt as read-only broadcast views of one row), or a
    ``MetaDataset`` for image files."""
    import mlflow.data
    from mlflow.data.meta_dataset import MetaDataset

    inputs = []
    for split in described:
        source = _source(split.dataset, split.source)
        if split.x_row is None:
            dataset = MetaDataset(source, name=split.name, digest=split.digest)
        else:
            dataset = mlflow.data.from_numpy(
                np.broadcast_to(split.x_row, split.x_shape),
                source=source,
                targets=np.broadcast_to(split.y_row, split.y_shape),
                name=split.name,
                digest=split.digest,
            )
        inputs.append((dataset, split.context, {"examples": str(split.examples)}))
    return inputs


def _source(dataset: str, text: str):
    """A folder or file the data came from, else a description (download, generated...)."""
    if text and Path(text).exists():
        import warnings

        from mlflow.data.dataset_source_registry import resolve_dataset_source

        with warnings.catch_warnings():  # MLflow registers two local-file sources and says so
            warnings.simplefilter("ignore", UserWarning)
            return resolve_dataset_source(str(Path(text).resolve()))
    from mlflow.data.code_dataset_source import CodeDatasetSource

    return CodeDatasetSource({"dataset": dataset, "source": text or "unknown"})
