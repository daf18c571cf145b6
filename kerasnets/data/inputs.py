"""A recipe's input pipelines: training (augmented, mixed, shuffled), validation and test
(untouched), and the preview batch of what the model sees.

What differs by task (statistics, targets, one-hot labels) comes from the ``task`` object the
caller passes (``kerasnets.train.tasks``), so the data layer never imports training code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerasnets.data.batch_mix import parse_steps
from kerasnets.data.files import ImageFiles
from kerasnets.data.pipeline import Splits, make_dataset


@dataclass
class Pipelines:
    train: Any
    validation: Any
    test: Any
    counters: dict[str, Any] = field(default_factory=dict)  # image files: split -> delivered count


def streamed(splits: Splits) -> bool:
    """Whether the splits are image files decoded in the pipeline (not in-memory arrays)."""
    return isinstance(splits.x_train, ImageFiles)


def geometries(recipe: Any, splits: Splits) -> tuple[Any, Any]:
    """(training, evaluation) per-image geometry, or (None, None) for in-memory images that
    need none (already at the model's size, no crops)."""
    crop = recipe.crop
    if not streamed(splits) and crop.train == "none" and crop.eval_side is None:
        return None, None
    from kerasnets.data.geometry import eval_geometry, train_geometry

    size = tuple(splits.input_shape[:2])
    return train_geometry(crop, size), eval_geometry(crop, size)


def make_augmenter(recipe: Any, splits: Splits):
    """The recipe's albumentations pipeline, built once and checked to keep the image shape;
    ``None`` without ``augment``."""
    if not recipe.augment:
        return None
    from kerasnets.data.augment import BatchAugmenter

    augmenter = BatchAugmenter(recipe.augment)
    augmenter.check_shape(splits.x_train[0])
    return augmenter


def make_pipelines(
    recipe: Any, splits: Splits, batch_size: int, task: Any, augmenter=None, outputs: int = 1
) -> Pipelines:
    """The three datasets; ``task`` gives the statistics, targets and label encoding and
    ``outputs`` repeats the labels for models with auxiliary heads."""
    mean, std = task.stats(splits)
    common = {
        "batch_size": batch_size,
        "seed": recipe.train.seed,
        "num_classes": splits.num_classes,
        "one_hot": task.one_hot(),
        "mean": mean,
        "std": std,
        "layout": recipe.data.layout,
        "target_fn": task.target_fn(splits),
    }
    train_view, eval_view = geometries(recipe, splits)
    counters: dict[str, Any] = {}

    def stream(split: str) -> dict[str, Any] | None:
        if not streamed(splits):
            return None
        from kerasnets.data.stream import DeliveredCounter

        counters[split] = DeliveredCounter()
        options = {"counter": counters[split], "cache": recipe.data.cache}
        return {**options, "shuffle_buffer": recipe.data.shuffle_buffer} if split == "train" else options

    train = make_dataset(
        splits.x_train,
        splits.y_train,
        shuffle=True,
        outputs=outputs,
        augmenter=augmenter,
        mixers=parse_steps(recipe.augment_batch),
        geometry=train_view,
        stream=stream("train"),
        **common,
    )
    validation = None
    if splits.y_val is not None and task.rules.validated:
        validation = make_dataset(
            splits.x_val,
            splits.y_val,
            shuffle=False,
            outputs=outputs,
            geometry=eval_view,
            stream=stream("validation"),
            **common,
        )
    test = make_dataset(
        splits.x_test, splits.y_test, shuffle=False, geometry=eval_view, stream=stream("test"), **common
    )
    return Pipelines(train, validation, test, counters)


def preview_batch(
    recipe: Any, splits: Splits, task: Any, count: int = 32, augmenter=None
) -> tuple[np.ndarray, np.ndarray]:
    """One training batch of ``count`` samples as the model sees them: (images, targets),
    with sequences shown as the images they were read from."""
    pipelines = make_pipelines(recipe, splits, count, task, augmenter=augmenter)
    images, targets = next(iter(pipelines.train))
    return images.numpy().reshape(-1, *splits.input_shape), targets.numpy()
