"""Optimisers from the recipe, through Keras's own lookup."""

from __future__ import annotations

import keras

from kerasnets.train.components import OPTIMIZERS


def make_optimizer(section) -> keras.optimizers.Optimizer:
    """``OptimizerSection`` -> a Keras optimiser (``gd`` is SGD fed full batches)."""
    config = {"learning_rate": section.learning_rate, **section.options}
    return keras.optimizers.get({"class_name": OPTIMIZERS.get(section.name), "config": config})
