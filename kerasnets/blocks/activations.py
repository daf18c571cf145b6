"""Activations Keras lacks: maxout (Goodfellow et al. 2013), lecture seed 004.

A maxout unit computes ``max(w1 . x + b1, w2 . x + b2, ...)``: ``pieces`` affine maps per unit
and the maximum over them. Its convolutional form is a convolution with ``units * pieces``
filters followed by cross-channel max pooling (``kerasnets.blocks.pooling``).

``activation_layer`` is the one place that turns an activation name into a layer after a
linear convolution or dense layer: ``maxout`` (the max over pairs of maps), ``leaky_relu`` with
the lectures' slope (``max(0.1 x, x)``, seed 004; Keras' ``"leaky_relu"`` string means 0.2) and
every other Keras activation by name.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasnets.blocks.pooling import CrossChannelMaxPooling, max_over_groups

#: The slope of leaky ReLU for x < 0 in the lectures (seed 004: ``max(0.1 x, x)``).
LEAKY_SLOPE = 0.1
#: Linear pieces per maxout unit: a layer feeding maxout makes this many times its outputs.
MAXOUT_PIECES = 2
#: Activations that need their own layer after a linear one (not a Keras activation string).
LAYER_ACTIVATIONS = ("maxout", "leaky_relu")


def activation_width(units: int, activation: str | None) -> int:
    """Outputs the linear layer before ``activation`` makes for ``units`` outputs after it."""
    return units * MAXOUT_PIECES if activation == "maxout" else units


def activation_layer(
    x: keras.KerasTensor, activation: str, *, name: str, leaky_slope: float = LEAKY_SLOPE
) -> keras.KerasTensor:
    """``activation`` as a layer named ``{name}_{activation}``: maxout over pairs of channels
    (C -> C / 2), leaky ReLU of slope ``leaky_slope``, or any Keras activation."""
    if activation == "maxout":
        return CrossChannelMaxPooling(MAXOUT_PIECES, name=f"{name}_maxout")(x)
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=leaky_slope, name=f"{name}_leaky_relu")(x)
    return keras.layers.Activation(activation, name=f"{name}_{activation}")(x)


@keras.saving.register_keras_serializable(package="kerasnets")
class Maxout(keras.layers.Layer):
    """A fully connected maxout layer: ``units`` outputs, each the max of ``pieces`` affine maps.

    The kernel has shape ``(inputs, units * pieces)``; the pieces of one unit are adjacent
    columns, so the layer equals ``Dense(units * pieces)`` then a maximum over each group.
    """

    def __init__(
        self,
        units: int,
        pieces: int = 2,
        use_bias: bool = True,
        kernel_initializer: str | dict = "glorot_uniform",
        bias_initializer: str | dict = "zeros",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if units < 1 or pieces < 1:
            raise ValueError(f"units and pieces must be positive, got {units!r} and {pieces!r}")
        self.units, self.pieces, self.use_bias = int(units), int(pieces), bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape) -> None:
        width = self.units * self.pieces
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], width), initializer=self.kernel_initializer
        )
        self.bias = (
            self.add_weight(name="bias", shape=(width,), initializer=self.bias_initializer)
            if self.use_bias
            else None
        )

    def call(self, inputs):
        z = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            z = z + self.bias
        return max_over_groups(z, self.pieces)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "pieces": self.pieces,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


def maxout(x: keras.KerasTensor, units: int, *, name: str, pieces: int = 2) -> keras.KerasTensor:
    """A maxout layer of ``units`` units with ``pieces`` linear pieces each."""
    return Maxout(units, pieces, name=name)(x)


def dense_act(
    x: keras.KerasTensor, units: int, activation: str, *, name: str, leaky_slope: float = LEAKY_SLOPE
) -> keras.KerasTensor:
    """A fully connected layer with any Keras activation; maxout units (two pieces, one
    ``Maxout`` layer) when ``activation="maxout"``; a ``LeakyReLU`` layer of slope
    ``leaky_slope`` after a linear ``Dense`` when ``activation="leaky_relu"``."""
    if activation == "maxout":
        return Maxout(units, pieces=MAXOUT_PIECES, name=name)(x)
    if activation == "leaky_relu":
        x = keras.layers.Dense(units, name=name)(x)
        return activation_layer(x, activation, name=name, leaky_slope=leaky_slope)
    return keras.layers.Dense(units, activation=activation, name=name)(x)
