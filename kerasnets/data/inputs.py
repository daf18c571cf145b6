"""A recipe's input pipelines: training (augmented, mixed, shuffled), validation and test
(untouched), and the preview batch of what the model sees.

What differs by task (statistics, targets, one-hot labels) comes from the ``task`` object the
caller passes (``kerasnets.train.tasks``), so the data layer never imports training code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kerasnets.data.batch_mix import parse_steps
from kerasnets.data.pipeline import Splits, make_dataset


@dataclass
class Pipelines:
    train: Any
    validation: Any
    test: Any


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
    train = make_dataset(
        splits.x_train,
        splits.y_train,
        shuffle=True,
        outputs=outputs,
        augmenter=augmenter,
        mixers=parse_steps(recipe.augment_batch),
        **common,
    )
    validation = None
    if splits.y_val is not None and task.rules.validated:
        validation = make_dataset(splits.x_val, splits.y_val, shuffle=False, outputs=outputs, **common)
    test = make_dataset(splits.x_test, splits.y_test, shuffle=False, **common)
    return Pipelines(train, validation, test)


def preview_batch(
    recipe: Any, splits: Splits, task: Any, count: int = 32, augmenter=None
) -> tuple[np.ndarray, np.ndarray]:
    """One training batch of ``count`` samples as the model sees them: (images, targets),
    with sequences shown as the images they were read from."""
    pipelines = make_pipelines(recipe, splits, count, task, augmenter=augmenter)
    images, targets = next(iter(pipelines.train))
    return images.numpy().reshape(-1, *splits.input_shape), targets.numpy()
