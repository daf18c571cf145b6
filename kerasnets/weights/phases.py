"""Transfer learning's phases: which layers train, and at what learning rate.

``transfer.trainable`` picks what trains for ``train.epochs``: everything, the classifier head
(a fixed feature extractor), or the head and the last ``top_blocks`` blocks of the base.
``transfer.fine_tune`` adds a second phase that unfreezes more (all, or the top blocks) at a
lower constant learning rate, recompiled, as in Keras's transfer-learning guide. A frozen
BatchNormalization layer runs in inference mode (Keras 3: ``trainable=False`` does that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from kerasnets.weights.report import weighted_layers

_BLOCK_PART = re.compile(r"^[a-z]+\d+$")


@dataclass(frozen=True)
class Phase:
    """Epochs ``[start, end)`` with ``trainable`` layers, compiled from ``recipe``."""

    number: int
    start: int
    end: int
    trainable: str
    top_blocks: int | None
    recipe: Any  # the recipe the phase's optimizer, schedule and callbacks read


def block_of(name: str) -> str:
    """The block a layer belongs to, from its name: ``stage4_block3_1_conv`` -> ``stage4_block3``,
    ``block5_conv1`` -> ``block5``, ``transition2_bn`` -> ``transition2``, ``stem_conv`` -> ``stem``."""
    parts = name.split("_")
    lead = []
    for part in parts:
        if not _BLOCK_PART.match(part):
            break
        lead.append(part)
    if len(lead) == len(parts):
        lead = lead[:-1]
    return "_".join(lead) or parts[0]


def head_layers(model: keras.Model) -> list[str]:
    """The classifier head: the ``head_*`` layers with weights, else the last weighted layer."""
    names = [layer.name for layer in weighted_layers(model)]
    head = [n for n in names if n.startswith("head_")]
    return head or names[-1:]


def set_trainable(model: keras.Model, trainable: str, top_blocks: int | None = None) -> tuple[int, int]:
    """Freeze what ``trainable`` leaves out; returns (trainable, frozen) parameter counts (frozen
    counts the weights that would train, not BatchNormalization's moving statistics)."""
    layers = weighted_layers(model)
    head = set(head_layers(model))
    if trainable == "all":
        train = {layer.name for layer in layers}
    else:
        base = [layer.name for layer in layers if layer.name not in head]
        blocks = list(dict.fromkeys(block_of(n) for n in base))
        top = set(blocks[-top_blocks:]) if trainable == "top" and top_blocks else set()
        train = head | {n for n in base if block_of(n) in top}
    for layer in layers:
        layer.trainable = True
    size = lambda weights: int(sum(np.prod(w.shape) for w in weights))  # noqa: E731
    everything = size(model.trainable_weights)
    for layer in layers:
        layer.trainable = layer.name in train
    trainable_count = size(model.trainable_weights)
    frozen = everything - trainable_count
    return trainable_count, frozen


def training_phases(recipe: Any) -> list[Phase]:
    """One phase for an ordinary recipe; two with ``transfer.fine_tune``."""
    transfer = recipe.transfer
    epochs = recipe.train.epochs
    phases = [Phase(1, 0, epochs, transfer.trainable, transfer.top_blocks, recipe)]
    fine = transfer.fine_tune
    if fine is not None:
        optimizer = recipe.optimizer.model_copy(update={"learning_rate": fine.learning_rate})
        schedule = type(recipe.schedule)()  # constant at the fine-tuning rate
        train = recipe.train.model_copy(update={"epochs": epochs + fine.epochs})
        second = recipe.model_copy(update={"optimizer": optimizer, "schedule": schedule, "train": train})
        phases.append(Phase(2, epochs, epochs + fine.epochs, fine.trainable, fine.top_blocks, second))
    return phases
