"""Pooling the lectures add to max and average (seeds 000, 001).

* Lp-norm pooling ``(sum_{window} |x|^p) ** (1/p)``: ``p=1`` is sum pooling, ``p=2`` the L2
  pooling of Sermanet et al. (2012) / Boureau et al. (2010), ``p -> inf`` tends to max pooling.
* Cross-channel max pooling: the maximum over groups of ``pieces`` adjacent feature maps, which
  is maxout over feature maps (Goodfellow et al. 2013, "Maxout networks").
"""

from __future__ import annotations

from typing import Literal

import keras
from keras import ops


def max_over_groups(x, pieces: int):
    """Maximum over consecutive groups of ``pieces`` entries of the last axis: C -> C / pieces."""
    channels = x.shape[-1]
    if channels is None or channels % pieces:
        raise ValueError(f"{channels} channels do not split into groups of {pieces}")
    grouped = ops.reshape(x, tuple(ops.shape(x)[:-1]) + (channels // pieces, pieces))
    return ops.max(grouped, axis=-1)


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


@keras.saving.register_keras_serializable(package="kerasnets")
class LpPooling2D(keras.layers.Layer):
    """Lp-norm pooling over 2-D windows: ``(sum |x|^p) ** (1/p)`` per channel.

    Zero padding (``padding="same"``) adds nothing to the sum, so border windows are the norm
    of their valid part. ``epsilon`` keeps the root differentiable on all-zero windows.
    """

    def __init__(
        self,
        p: float = 2.0,
        pool_size: int | tuple[int, int] = 2,
        strides: int | tuple[int, int] | None = None,
        padding: Literal["valid", "same"] = "valid",
        epsilon: float = 1e-12,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if p <= 0:
            raise ValueError(f"p must be positive, got {p!r}")
        self.p = float(p)
        self.pool_size = _pair(pool_size)
        self.strides = _pair(strides) if strides is not None else self.pool_size
        self.padding = padding
        self.epsilon = float(epsilon)

    def call(self, inputs):
        powered = ops.square(inputs) if self.p == 2 else ops.power(ops.abs(inputs), self.p)
        # A depthwise convolution with a kernel of ones sums each channel over the window.
        ones = ops.ones(self.pool_size + (inputs.shape[-1], 1), dtype=inputs.dtype)
        total = ops.depthwise_conv(powered, ones, strides=self.strides, padding=self.padding)
        return ops.power(ops.maximum(total, self.epsilon), 1.0 / self.p)

    def compute_output_shape(self, input_shape):
        spatial = []
        for size, pool, stride in zip(input_shape[1:3], self.pool_size, self.strides, strict=True):
            if size is None:
                spatial.append(None)
            elif self.padding == "same":
                spatial.append(-(-size // stride))
            else:
                spatial.append((size - pool) // stride + 1)
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "p": self.p,
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "epsilon": self.epsilon,
        }


@keras.saving.register_keras_serializable(package="kerasnets")
class CrossChannelMaxPooling(keras.layers.Layer):
    """Maximum over groups of ``pieces`` adjacent channels (maxout over feature maps)."""

    def __init__(self, pieces: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        if pieces < 1:
            raise ValueError(f"pieces must be a positive integer, got {pieces!r}")
        self.pieces = int(pieces)

    def build(self, input_shape) -> None:
        channels = input_shape[-1]
        if channels is not None and channels % self.pieces:
            raise ValueError(f"{channels} channels do not split into groups of {self.pieces}")

    def call(self, inputs):
        return max_over_groups(inputs, self.pieces)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels // self.pieces)

    def get_config(self) -> dict:
        return {**super().get_config(), "pieces": self.pieces}


def lp_pool(
    x: keras.KerasTensor,
    *,
    name: str,
    p: float = 2.0,
    pool_size: int = 2,
    strides: int | None = None,
    padding: Literal["valid", "same"] = "valid",
) -> keras.KerasTensor:
    """Lp-norm pooling (L2 pooling by default)."""
    return LpPooling2D(p=p, pool_size=pool_size, strides=strides, padding=padding, name=name)(x)


def cross_channel_max_pool(x: keras.KerasTensor, pieces: int, *, name: str) -> keras.KerasTensor:
    """Cross-channel max pooling: ``C`` feature maps -> ``C / pieces``."""
    return CrossChannelMaxPooling(pieces, name=name)(x)


#: Spatial pooling by name, for builders that offer a ``pooling`` option.
POOLING = {
    "max": lambda x, size, name: keras.layers.MaxPooling2D(size, name=name)(x),
    "avg": lambda x, size, name: keras.layers.AveragePooling2D(size, name=name)(x),
    "l2": lambda x, size, name: lp_pool(x, p=2.0, pool_size=size, name=name),
}
