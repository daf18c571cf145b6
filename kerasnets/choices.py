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
#: ``kerasnets.blocks.dense_act`` and ``conv_act`` build where a builder supports them (twice
#: the filters / units, then the maximum over each pair). ``leaky_relu`` there takes the slope
#: of the builder's ``leaky_slope`` option (0.1 as in the lectures; Keras' own default is 0.2).
DenseActivation = Literal[Activation, "maxout"]

#: Spatial pooling (``kerasnets.blocks.pool``): max, average, L2-norm pooling, Lp-norm pooling
#: (p from the builder's ``pool_p``), and max pooling followed by cross-channel max pooling over
#: pairs of adjacent feature maps (seed 001; the convolution before it makes twice the maps).
Pooling = Literal["max", "avg", "l2", "lp", "cross_channel_max"]

#: Convolution padding (seed 000): none, output size kept, or ``full`` (``f - 1`` zeros on each
#: side: output size ``n + f - 1``).
Padding = Literal["valid", "same", "full"]

#: ``Padding`` for builders whose paper pads layer by layer (AlexNet, ZFNet): ``paper`` keeps
#: the published per-layer padding, the others apply to every convolution.
LayerPadding = Literal["paper", "valid", "same", "full"]

#: The classifier's output activation (``model.head_activation``): class probabilities that sum
#: to one, independent per-class probabilities (two-class and multi-label), or raw scores.
HeadActivation = Literal["softmax", "sigmoid", "linear"]

__all__ = ["Activation", "DenseActivation", "HeadActivation", "LayerPadding", "Padding", "Pooling"]
