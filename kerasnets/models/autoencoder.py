"""Dense and convolutional autoencoders (lecture seed 000); denoising is corruption in the data step.

Both learn the clean standardised image back through a small code (``code``), so the output is
linear and has the input's shape. The ``denoise`` task feeds them a corrupted copy
(``kerasnets.train.tasks.corrupt``); the architecture is the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import keras

from kerasnets.blocks import conv, conv_act, padding_to_multiple
from kerasnets.choices import Activation
from kerasnets.models.base import register_model

TASKS = ("reconstruct", "denoise")


@register_model(
    "dense_autoencoder",
    params=419_120,
    input_shape=(28, 28, 1),
    num_classes=10,
    source="784*256+256 + 256*32+32 + 32*256+256 + 256*784+784 (hidden=(256,), code_size=32)",
    tasks=TASKS,
)
def dense_autoencoder(
    input_shape: tuple[int, ...],
    num_classes: int,
    hidden: Sequence[int] = (256,),
    code_size: int = 32,
    activation: Activation = "relu",
) -> keras.Model:
    """A fully connected autoencoder: flatten, ``hidden`` layers, a linear code, mirror back.

    Reducing the dimensionality of data with neural networks, Hinton and Salakhutdinov
    (2006); denoising: Vincent et al. (2008). ``num_classes`` is ignored.

    Args:
        hidden: encoder layer sizes; the decoder uses them in reverse.
        code_size: units of the (linear) code layer.
        activation: activation of the hidden layers.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, activation=activation, name=f"encoder_fc{i}")(x)
    x = keras.layers.Dense(code_size, name="code")(x)
    for i, units in enumerate(reversed(hidden), start=1):
        x = keras.layers.Dense(units, activation=activation, name=f"decoder_fc{i}")(x)
    x = keras.layers.Dense(math.prod(input_shape), dtype="float32", name="decoder_output")(x)
    outputs = keras.layers.Reshape(input_shape, name="reconstruction")(x)
    return keras.Model(inputs, outputs, name="dense_autoencoder")


# ----------------------------------------------------------------------------- convolutional


def _strided(x, filters: int, kernel_size: int, activation: str, i: int):
    return conv_act(x, filters, kernel_size, strides=2, activation=activation, name=f"encoder_conv{i}")


def _pooled(x, filters: int, kernel_size: int, activation: str, i: int):
    x = conv_act(x, filters, kernel_size, activation=activation, name=f"encoder_conv{i}")
    return keras.layers.MaxPooling2D(2, name=f"encoder_pool{i}")(x)


def _transpose(x, filters: int, kernel_size: int, activation: str, i: int):
    return keras.layers.Conv2DTranspose(
        filters, kernel_size, strides=2, padding="same", activation=activation, name=f"decoder_deconv{i}"
    )(x)


def _upsample(x, filters: int, kernel_size: int, activation: str, i: int):
    x = keras.layers.UpSampling2D(2, name=f"decoder_up{i}")(x)
    return conv_act(x, filters, kernel_size, activation=activation, name=f"decoder_conv{i}")


#: How the encoder halves the resolution and how the decoder doubles it again.
DOWNSAMPLE = {"stride": _strided, "pool": _pooled}
DECODERS = {"transpose": _transpose, "upsample": _upsample}


@register_model(
    "conv_autoencoder",
    params=278_369,
    input_shape=(28, 28, 1),
    num_classes=10,
    source=(
        "3*3*1*32+32 + 3*3*32*64+64 + 7*7*64*32+32 + 32*7*7*64+7*7*64 + 3*3*64*64+64 "
        "+ 3*3*64*32+32 + 3*3*32*1+1 (filters=(32, 64), code_size=32, transpose decoder)"
    ),
    variants=[({"decoder": "upsample", "downsample": "pool"}, 278_369)],
    tasks=TASKS,
)
def conv_autoencoder(
    input_shape: tuple[int, ...],
    num_classes: int,
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    code_size: int = 32,
    downsample: Literal["stride", "pool"] = "stride",
    decoder: Literal["transpose", "upsample"] = "transpose",
    activation: Activation = "relu",
) -> keras.Model:
    """A convolutional autoencoder: each encoder stage halves the resolution, a dense linear
    ``code`` in the middle, each decoder stage doubles it, a linear 3x3 conv gives the image.

    Stacked convolutional auto-encoders, Masci, Meier, Ciresan, Schmidhuber (2011); denoising
    as in Vincent et al. (2008). Inputs whose sides are not multiples of ``2 ** len(filters)``
    are zero-padded on the way in and cropped on the way out, so the output always has the
    input's shape (28x28x1, 32x32x3, ...). ``num_classes`` is ignored.

    Args:
        filters: channels of the encoder stages; the decoder uses them in reverse.
        kernel_size: kernel of every convolution.
        code_size: units of the dense (linear) code layer.
        downsample: ``stride`` (strided convolutions) or ``pool`` (conv then 2x2 max pooling).
        decoder: ``transpose`` (strided Conv2DTranspose) or ``upsample`` (UpSampling2D + conv).
        activation: activation of every hidden layer.
    """
    height, width, channels = input_shape
    factor = 2 ** len(filters)
    pad = (padding_to_multiple(height, factor), padding_to_multiple(width, factor))
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.ZeroPadding2D(pad, name="encoder_pad")(inputs) if any(map(any, pad)) else inputs
    for i, width_i in enumerate(filters, start=1):
        x = DOWNSAMPLE[downsample](x, width_i, kernel_size, activation, i)
    feature_shape = tuple(x.shape[1:])  # (H / factor, W / factor, filters[-1])
    x = keras.layers.Flatten(name="encoder_flatten")(x)
    x = keras.layers.Dense(code_size, name="code")(x)
    x = keras.layers.Dense(math.prod(feature_shape), activation=activation, name="decoder_fc")(x)
    x = keras.layers.Reshape(feature_shape, name="decoder_reshape")(x)
    for i, width_i in enumerate(reversed(filters), start=1):
        x = DECODERS[decoder](x, width_i, kernel_size, activation, i)
    x = conv(x, channels, kernel_size, name="decoder_output")
    if any(map(any, pad)):
        x = keras.layers.Cropping2D(pad, name="decoder_crop")(x)
    outputs = keras.layers.Activation("linear", dtype="float32", name="reconstruction")(x)
    return keras.Model(inputs, outputs, name="conv_autoencoder")
