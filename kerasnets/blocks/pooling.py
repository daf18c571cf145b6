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

    def build(self, input_shape) -> None:
        if self.padding == "valid":
            for size, pool in zip(input_shape[1:3], self.pool_size, strict=True):
                if size is not None and size < pool:
                    raise ValueError(
                        f"{self.name}: a {pool}-wide pooling window does not fit an input of "
                        f"size {size} (padding 'valid')"
                    )

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


def _keras_pool(layer: type):
    def apply(x, *, pool_size, strides, padding, name, p):
        return layer(pool_size, strides=strides, padding=padding, name=name)(x)

    return apply


def _lp(fixed_p: float | None):
    def apply(x, *, pool_size, strides, padding, name, p):
        return lp_pool(x, p=fixed_p or p, pool_size=pool_size, strides=strides, padding=padding, name=name)

    return apply


def _cross_channel_max(x, *, pool_size, strides, padding, name, p):
    x = keras.layers.MaxPooling2D(pool_size, strides=strides, padding=padding, name=name)(x)
    return cross_channel_max_pool(x, CHANNEL_PIECES["cross_channel_max"], name=f"{name}_channels")


#: Spatial pooling by name (``kerasnets.choices.Pooling``): each ``(x, *, pool_size, strides,
#: padding, name, p)``; ``p`` is the norm of ``lp`` (``l2`` is ``lp`` at p = 2).
POOLING = {
    "max": _keras_pool(keras.layers.MaxPooling2D),
    "avg": _keras_pool(keras.layers.AveragePooling2D),
    "l2": _lp(2.0),
    "lp": _lp(None),
    "cross_channel_max": _cross_channel_max,
}

#: Poolings that also take the max over groups of adjacent channels: the convolution before
#: them makes this many times its filters, so the width after the pool is the architecture's.
CHANNEL_PIECES = {"cross_channel_max": 2}


def pooled_filters(filters: int, pooling: str) -> int:
    """Filters of the convolution that feeds a ``pooling`` pool (twice as many before a
    cross-channel max pool, which halves them again)."""
    return filters * CHANNEL_PIECES.get(pooling, 1)


def pool(
    x: keras.KerasTensor,
    pooling: str,
    pool_size: int = 2,
    *,
    name: str,
    strides: int | None = None,
    padding: Literal["valid", "same"] = "valid",
    p: float = 3.0,
) -> keras.KerasTensor:
    """Spatial pooling of kind ``pooling`` (a key of ``POOLING``): max, avg, l2, lp (norm ``p``)
    or cross_channel_max (max pooling, then the max over pairs of adjacent channels)."""
    if pooling not in POOLING:
        raise ValueError(f"unknown pooling {pooling!r}; valid: {', '.join(POOLING)}")
    return POOLING[pooling](x, pool_size=pool_size, strides=strides, padding=padding, name=name, p=p)


# ----------------------------------------------------------------------------- SegNet pooling


@keras.saving.register_keras_serializable(package="kerasnets")
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """Max pooling over non-overlapping windows that also returns where each maximum was.

    Returns ``(values, indices)``. ``indices`` (int32, the shape of ``values``) holds the flat
    position of each maximum inside its own image, ``(y * width + x) * channels + c``: the
    format of ``tf.nn.max_pool_with_argmax(..., include_batch_in_index=False)``, so indices do
    not depend on a sample's place in the batch. Written in ``keras.ops`` rather than with that
    op because XLA has no kernel for it (``jit_compile`` is on by default on a GPU); the
    gradient reaches only the selected position of each window (first maximum on ties).
    ``padding="same"`` pads the bottom/right edge so that odd sizes round up.
    """

    def __init__(
        self,
        pool_size: int | tuple[int, int] = 2,
        padding: Literal["valid", "same"] = "valid",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        self.pool_size = _pair(pool_size)
        self.padding = padding

    def _pooled(self, size: int | None, pool: int) -> int | None:
        if size is None:
            return None
        return -(-size // pool) if self.padding == "same" else size // pool

    def call(self, inputs):
        (ph, pw), channels = self.pool_size, inputs.shape[-1]
        _, height, width, _ = ops.shape(inputs)
        oh, ow = self._pooled(height, ph), self._pooled(width, pw)
        x = inputs
        if self.padding == "same":  # -inf never wins: every window keeps one real pixel
            pad = [[0, 0], [0, oh * ph - height], [0, ow * pw - width], [0, 0]]
            x = ops.pad(x, pad, constant_values=float("-inf"))
        else:
            x = x[:, : oh * ph, : ow * pw]
        # (N, oh, ph, ow, pw, C) -> (N, oh, ow, C, ph * pw): one row per pooling window
        windows = ops.reshape(x, (-1, oh, ph, ow, pw, channels))
        windows = ops.reshape(ops.transpose(windows, (0, 1, 3, 5, 2, 4)), (-1, oh, ow, channels, ph * pw))
        offset = ops.argmax(windows, axis=-1)  # (N, oh, ow, C), first maximum on ties
        values = ops.squeeze(ops.take_along_axis(windows, offset[..., None], axis=-1), -1)
        offset = ops.cast(offset, "int32")
        rows = ops.arange(oh, dtype="int32")[:, None, None] * ph + offset // pw
        cols = ops.arange(ow, dtype="int32")[None, :, None] * pw + offset % pw
        indices = (rows * width + cols) * channels + ops.arange(channels, dtype="int32")
        return values, indices

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        shape = (
            batch,
            self._pooled(height, self.pool_size[0]),
            self._pooled(width, self.pool_size[1]),
            channels,
        )
        return shape, shape

    def compute_output_spec(self, inputs):
        shape, _ = self.compute_output_shape(inputs.shape)
        return (
            keras.KerasTensor(shape, dtype=self.compute_dtype),
            keras.KerasTensor(shape, dtype="int32"),
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding}


@keras.saving.register_keras_serializable(package="kerasnets")
class MaxUnpooling2D(keras.layers.Layer):
    """Scatter pooled values back to the positions ``MaxPoolingWithArgmax2D`` took them from;
    every other position is zero (Badrinarayanan et al. 2017, SegNet's decoder upsampling).

    Called as ``layer(values, indices)``. The output is ``output_size`` (height, width) when
    given, else the input size times ``pool_size``; indices must be per-image flat positions
    ``(y * width + x) * channels + c`` in that output.
    """

    def __init__(
        self,
        output_size: tuple[int, int] | None = None,
        pool_size: int | tuple[int, int] = 2,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.output_size = None if output_size is None else tuple(int(s) for s in output_size)
        self.pool_size = _pair(pool_size)

    def _size(self, height, width):
        if self.output_size is not None:
            return self.output_size
        (ph, pw) = self.pool_size
        return (None if height is None else height * ph, None if width is None else width * pw)

    def call(self, inputs, indices):
        batch, height, width, channels = ops.shape(inputs)
        out_h, out_w = self._size(height, width)
        # (image, flat position in that image) pairs into a (batch, out_h * out_w * C) canvas
        images = ops.broadcast_to(
            ops.reshape(ops.arange(batch, dtype="int32"), (-1, 1, 1, 1)), ops.shape(indices)
        )
        positions = ops.reshape(ops.stack([images, ops.cast(indices, "int32")], axis=-1), (-1, 2))
        flat = ops.scatter(positions, ops.reshape(inputs, (-1,)), (batch, out_h * out_w * channels))
        return ops.reshape(flat, (batch, out_h, out_w, channels))

    def compute_output_shape(self, inputs_shape, indices_shape=None):
        batch, height, width, channels = inputs_shape
        return (batch, *self._size(height, width), channels)

    def compute_output_spec(self, inputs, indices):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.compute_dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "output_size": self.output_size, "pool_size": self.pool_size}


def pool_with_indices(
    x: keras.KerasTensor, *, name: str, pool_size: int = 2, padding: Literal["valid", "same"] = "valid"
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Max pooling that keeps the argmax indices for a later ``unpool``: (values, indices)."""
    return MaxPoolingWithArgmax2D(pool_size, padding, name=name)(x)


def unpool(
    x: keras.KerasTensor,
    indices: keras.KerasTensor,
    *,
    like: keras.KerasTensor,
    name: str,
    pool_size: int = 2,
) -> keras.KerasTensor:
    """Upsample ``x`` to the spatial size of ``like`` (the tensor that was pooled), each value
    at the position its maximum came from."""
    size = tuple(like.shape[1:3])
    output_size = size if None not in size else None
    return MaxUnpooling2D(output_size, pool_size, name=name)(x, indices)
