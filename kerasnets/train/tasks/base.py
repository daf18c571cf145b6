"""The task registry and the defaults every task shares.

A task is what a recipe's model learns; it brings its loss, metrics, targets, end-of-run
figures and pictures, while the loop (``kerasnets.train.loop``) stays the same for all. What a
task accepts from a recipe lives in ``kerasnets.rules.TASK_RULES``, read here as ``rules``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from kerasnets.registry import Registry
from kerasnets.rules import TASK_RULES, TaskRules

TASKS: Registry[type[Task]] = Registry("task")


def to_pixels(images: np.ndarray, mean, std) -> np.ndarray:
    """Standardised images back in 0..255 pixel space."""
    return np.clip(images * np.float32(std) + np.float32(mean), 0, 255)


class Task:
    """Defaults shared by the tasks; subclasses override what differs."""

    name = ""
    headline = "test_loss"  # the metric printed at the end of a run
    previews_input = True  # log a grid of the (augmented) training images the model sees

    def __init__(self, recipe) -> None:
        self.recipe = recipe

    @property
    def rules(self) -> TaskRules:
        return TASK_RULES[self.name]

    # -- data
    def stats(self, splits) -> tuple[list[float], list[float]]:
        return splits.mean, splits.std

    def input_shape(self, splits) -> tuple[int, ...]:
        from kerasnets.data.pipeline import layout_shape

        return layout_shape(splits.input_shape, self.recipe.data.layout)

    def one_hot(self) -> bool:
        return False

    def outputs(self, model: keras.Model) -> int:
        """How many targets a training batch carries (one per model output for classifiers)."""
        return 1

    def target_fn(self, splits) -> Callable | None:
        return None

    # -- model
    def model_options(self, splits) -> dict[str, Any]:
        """Builder options the data decide (beside the recipe's), e.g. an output length."""
        return {}

    def compile(self, model: keras.Model, optimizer, jit_compile: bool, steps_per_execution: int) -> None:
        raise NotImplementedError

    def callbacks(self, model: keras.Model, tracker) -> list[keras.callbacks.Callback]:
        return []

    def inference(self, model: keras.Model) -> keras.Model:
        return model

    # -- results
    def evaluate(self, net: keras.Model, pipelines, splits, batch_size: int) -> dict[str, float]:
        raise NotImplementedError

    def figures(self, net: keras.Model, splits) -> list[tuple[Any, tuple, str]]:
        """(draw, args, artifact name) logged at the end of the run: ``draw(*args)`` (a
        module-level plotting function, see ``kerasnets.plots``) makes the figure, in the
        tracking process."""
        return []
