"""Activations Keras lacks: maxout (Goodfellow et al. 2013), lecture seed 004.

A maxout unit computes ``max(w1 . x + b1, w2 . x + b2, ...)``: ``pieces`` affine maps per unit
and the maximum over them. Its convolutional form is a convolution with ``units * pieces``
filters followed by cross-channel max pooling (``kerasnets.blocks.pooling``).
"""

from __future__ import annotations

import keras
from keras import ops

from kerasnets.blocks.conv import conv
from kerasnets.blocks.pooling import CrossChannelMaxPooling, max_over_groups


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


def dense_act(x: keras.KerasTensor, units: int, activation: str, *, name: str) -> keras.KerasTensor:
    """A fully connected layer with any Keras activation, or maxout units (two pieces) when
    ``activation="maxout"``."""
    if activation == "maxout":
        return Maxout(units, pieces=2, name=name)(x)
    return keras.layers.Dense(units, activation=activation, name=name)(x)


def conv_maxout(
    x: keras.KerasTensor, filters: int, kernel_size: int, *, name: str, pieces: int = 2, **conv_kwargs
) -> keras.KerasTensor:
    """Convolutional maxout: ``filters * pieces`` linear maps, then the max over each group of
    ``pieces`` adjacent maps (cross-channel max pooling, Goodfellow et al. 2013)."""
    x = conv(x, filters * pieces, kernel_size, name=name, **conv_kwargs)
    return CrossChannelMaxPooling(pieces, name=f"{name}_maxout")(x)
