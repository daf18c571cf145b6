"""Closed choices of builder options, as ``Literal`` types (imports nothing but ``typing``).

Builders annotate their options with these so that a recipe naming a value Keras cannot use
fails validation, with the valid choices listed, instead of failing when the model is built.
The catalog (``kerasnets.catalog``) records the same choices for TensorFlow-free validation.
"""

from __future__ import annotations

from typing import Literal

#: Element-wise Keras activations (``keras.activations.get`` accepts each name) that keep the
#: shape of their input: what ``activation=`` of a convolution or a dense layer can take.
Activation = Literal[
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "swish",
    "hard_silu",
    "hard_swish",
    "mish",
    "sigmoid",
    "hard_sigmoid",
    "log_sigmoid",
    "tanh",
    "hard_tanh",
    "softplus",
    "softsign",
    "exponential",
    "linear",
]

#: ``Activation`` plus ``maxout`` (Goodfellow et al. 2013): maxout units of two pieces, which
#: ``kerasnets.blocks.dense_act`` (and ``conv_maxout``) build where a builder supports them.
DenseActivation = Literal[Activation, "maxout"]

__all__ = ["Activation", "DenseActivation"]
