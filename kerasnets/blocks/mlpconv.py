"""The mlpconv layer of Network in Network (Lin, Chen, Yan 2013): a convolution followed by
1x1 convolutions, i.e. a small MLP slid over the image (seed 000)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerasnets.blocks.conv import conv_act


def mlpconv(
    x: keras.KerasTensor,
    filters: Sequence[int],
    kernel_size: int,
    *,
    name: str,
    strides: int = 1,
    activation: str = "relu",
) -> keras.KerasTensor:
    """``kernel_size`` convolution to ``filters[0]`` maps, then a 1x1 convolution per later width."""
    x = conv_act(x, filters[0], kernel_size, strides=strides, activation=activation, name=f"{name}_conv")
    for i, width in enumerate(filters[1:], start=1):
        x = conv_act(x, width, 1, activation=activation, name=f"{name}_cccp{i}")
    return x
