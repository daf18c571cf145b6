"""Convolution primitives every builder is composed from.

``conv`` handles the padding policies of the lectures (seed 000): ``valid``, ``same``,
``full`` (pad ``f - 1`` on each side) or an explicit number of zeros per side. The three
composites fix the order of convolution, batch normalisation and activation in one place.
"""

from __future__ import annotations

from typing import Literal

import keras

from kerasnets.blocks.activations import (
    LAYER_ACTIVATIONS,
    LEAKY_SLOPE,
    MAXOUT_PIECES,
    activation_layer,
    activation_width,
)
from kerasnets.blocks.pooling import CrossChannelMaxPooling

Padding = Literal["valid", "same", "full"] | int

#: Batch-normalisation policy shared by every block (Keras applications use 1.001e-5).
BN_EPSILON = 1.001e-5
BN_MOMENTUM = 0.99


def _layers(rank: int) -> tuple[type, type]:
    if rank == 1:
        return keras.layers.Conv1D, keras.layers.ZeroPadding1D
    if rank == 2:
        return keras.layers.Conv2D, keras.layers.ZeroPadding2D
    raise ValueError(f"rank must be 1 or 2, got {rank!r}")


def conv(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int,
    *,
    name: str,
    strides: int = 1,
    padding: Padding = "same",
    activation: str | None = None,
    use_bias: bool = True,
    rank: int = 2,
) -> keras.KerasTensor:
    """A convolution with ``valid`` / ``same`` / ``full`` / explicit integer padding."""
    conv_layer, pad_layer = _layers(rank)
    if padding == "full":
        padding = kernel_size - 1
    if isinstance(padding, int) and not isinstance(padding, bool):
        if padding > 0:
            x = pad_layer(padding, name=f"{name}_pad")(x)
        padding = "valid"
    return conv_layer(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        activation=activation,
        use_bias=use_bias,
        name=name,
    )(x)


def padding_to_multiple(size: int, factor: int) -> tuple[int, int]:
    """Zeros before and after so that ``size`` becomes a multiple of ``factor`` (the crop that
    undoes it after upsampling is the same pair)."""
    extra = -size % factor
    return extra // 2, extra - extra // 2


def batch_norm(x: keras.KerasTensor, *, name: str) -> keras.KerasTensor:
    """Batch normalisation over the channel axis with the package-wide policy."""
    return keras.layers.BatchNormalization(axis=-1, epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)(x)


def conv_act(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int,
    *,
    name: str,
    activation: str = "relu",
    leaky_slope: float = LEAKY_SLOPE,
    **conv_kwargs,
) -> keras.KerasTensor:
    """Convolution followed by an activation, no normalisation (LeNet, AlexNet, VGG).

    ``maxout`` is convolutional maxout (twice the filters, then the max over each pair of
    adjacent maps: ``filters`` maps out); ``leaky_relu`` a ``LeakyReLU`` layer of slope
    ``leaky_slope``; any other Keras activation is fused into the convolution."""
    if activation in LAYER_ACTIVATIONS:
        x = conv(x, activation_width(filters, activation), kernel_size, name=name, **conv_kwargs)
        return activation_layer(x, activation, name=name, leaky_slope=leaky_slope)
    return conv(x, filters, kernel_size, name=name, activation=activation, **conv_kwargs)


def conv_maxout(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int,
    *,
    name: str,
    pieces: int = MAXOUT_PIECES,
    **conv_kwargs,
) -> keras.KerasTensor:
    """Convolutional maxout: ``filters * pieces`` linear maps, then the max over each group of
    ``pieces`` adjacent maps (cross-channel max pooling, Goodfellow et al. 2013)."""
    x = conv(x, filters * pieces, kernel_size, name=name, **conv_kwargs)
    return CrossChannelMaxPooling(pieces, name=f"{name}_maxout")(x)


def conv_bn_act(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int,
    *,
    name: str,
    activation: str | None = "relu",
    use_bias: bool = False,
    leaky_slope: float = LEAKY_SLOPE,
    **conv_kwargs,
) -> keras.KerasTensor:
    """Convolution, batch norm, activation (ResNet v1, GoogLeNet-BN, stems); ``maxout`` and
    ``leaky_relu`` as in :func:`conv_act`."""
    width = activation_width(filters, activation)
    x = conv(x, width, kernel_size, name=f"{name}_conv", use_bias=use_bias, **conv_kwargs)
    x = batch_norm(x, name=f"{name}_bn")
    if activation:
        x = activation_layer(x, activation, name=name, leaky_slope=leaky_slope)
    return x


def bn_act_conv(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int,
    *,
    name: str,
    activation: str = "relu",
    use_bias: bool = False,
    **conv_kwargs,
) -> keras.KerasTensor:
    """Pre-activation order: batch norm, activation, convolution (ResNet v2, DenseNet)."""
    x = batch_norm(x, name=f"{name}_bn")
    x = keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
    return conv(x, filters, kernel_size, name=f"{name}_conv", use_bias=use_bias, **conv_kwargs)
