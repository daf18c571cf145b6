"""Optimisers from the recipe, through Keras's own lookup."""

from __future__ import annotations

import keras

from kerasnets.train.components import OPTIMIZERS


def make_optimizer(section, accumulate: int = 1) -> keras.optimizers.Optimizer:
    """``OptimizerSection`` -> a Keras optimiser (``gd`` is SGD fed full batches).

    ``ema_momentum`` turns on Keras' weight averaging (``use_ema``: the averages are optimizer
    variables, so checkpoints carry them); ``accumulate`` > 1 is Keras'
    ``gradient_accumulation_steps`` (``train.accumulate``).
    """
    config = {"learning_rate": section.learning_rate, **section.options}
    if section.ema_momentum is not None:
        config["use_ema"] = True
    if accumulate > 1:
        config["gradient_accumulation_steps"] = accumulate
    return keras.optimizers.get({"class_name": OPTIMIZERS.get(section.name), "config": config})
