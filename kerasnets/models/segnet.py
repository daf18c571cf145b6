"""SegNet: an encoder-decoder that upsamples with the encoder's max-pool indices (seed 003).

Badrinarayanan, Kendall & Cipolla (2017), "SegNet: A deep convolutional encoder-decoder
architecture for image segmentation", IEEE TPAMI 39(12). Each encoder stage is ``depth``
conv-BN-ReLU layers and a 2x2 max pool that remembers where each maximum was; the mirrored
decoder stage puts its input back at those positions (a sparse map, zeros elsewhere) and
densifies it with conv-BN(-ReLU) layers, the last of which narrows to the next stage's width.
A pixel-wise classifier (a convolution to ``num_classes`` and a softmax) ends the network.
"""

from __future__ import annotations

import keras

from kerasnets.blocks import conv, conv_bn_act, pool_with_indices, unpool
from kerasnets.choices import Activation
from kerasnets.models.base import register_model


def _check_size(input_shape: tuple[int, ...], stages: int) -> None:
    factor = 2**stages
    for axis, size in zip(("height", "width"), input_shape[:2], strict=True):
        if size is not None and size % factor:
            raise ValueError(
                f"segnet with {stages} stages needs a {axis} divisible by 2**{stages} = {factor}, "
                f"got input_shape {tuple(input_shape)}; set data.image_size to a multiple of {factor} "
                f"(e.g. {max(factor, size // factor * factor)})"
            )


def encoder_decoder(
    input_shape: tuple[int, ...],
    num_classes: int,
    filters: tuple[int, ...],
    depths: tuple[int, ...],
    *,
    kernel_size: int,
    decoder_activation: Activation | None,
    classifier_kernel: int,
    dropout: float,
    name: str,
) -> keras.Model:
    """The SegNet graph for one table row (see ``segnet`` for the arguments)."""
    filters, depths = tuple(filters), tuple(depths)
    if len(filters) != len(depths) or not filters:
        raise ValueError(f"filters and depths need one entry per stage, got {filters} and {depths}")
    stages = len(filters)
    _check_size(input_shape, stages)
    deep = range(stages - max(1, stages // 2), stages)  # the stages that get dropout (at least one)

    inputs = keras.Input(shape=input_shape, name="image")
    x, pooled = inputs, []
    for s, (width, depth) in enumerate(zip(filters, depths, strict=True)):
        for i in range(depth):
            x = conv_bn_act(x, width, kernel_size, name=f"encoder{s + 1}_conv{i + 1}")
        before = x  # the decoder unpools to this map's size
        x, indices = pool_with_indices(x, name=f"encoder{s + 1}_pool")  # H/2 x W/2
        pooled.append((before, indices))
        if dropout and s in deep:
            x = keras.layers.Dropout(dropout, name=f"encoder{s + 1}_dropout")(x)

    for s in reversed(range(stages)):
        before, indices = pooled[s]
        x = unpool(x, indices, like=before, name=f"decoder{s + 1}_unpool")  # sparse, H x W
        for i in range(depths[s]):
            narrow = i == depths[s] - 1 and s > 0  # the last conv hands on the next stage's width
            x = conv_bn_act(
                x,
                filters[s - 1] if narrow else filters[s],
                kernel_size,
                activation=decoder_activation,
                name=f"decoder{s + 1}_conv{i + 1}",
            )
        if dropout and s in deep:
            x = keras.layers.Dropout(dropout, name=f"decoder{s + 1}_dropout")(x)

    x = conv(x, num_classes, classifier_kernel, name="classifier")
    outputs = keras.layers.Softmax(axis=-1, dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@register_model(
    "segnet",
    params=147_252,
    input_shape=(64, 64, 3),
    num_classes=4,
    tasks=("segment",),
    source=(
        "computed, conv without bias + BN (4 per channel): encoder 16: 432+64, 2,304+64; "
        "32: 4,608+128, 9,216+128; 64: 18,432+256, 36,864+256 (72,752); decoder 64: 36,864+256, "
        "18,432+128; 32: 9,216+128, 4,608+64; 16: 2,304+64, 2,304+64 (74,432); "
        "classifier 1x1 16->4 with bias 68"
    ),
)
def segnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    filters: tuple[int, ...] = (16, 32, 64),
    depths: tuple[int, ...] = (2, 2, 2),
    kernel_size: int = 3,
    decoder_activation: Activation | None = "relu",
    classifier_kernel: int = 1,
    dropout: float = 0.0,
) -> keras.Model:
    """SegNet (Badrinarayanan, Kendall & Cipolla 2017, "SegNet: A deep convolutional
    encoder-decoder architecture for image segmentation"), configurable in width and depth.

    ``filters`` / ``depths``: width and number of conv-BN-ReLU layers per encoder stage, each
    stage followed by a 2x2 max pool with indices; the decoder mirrors them (the paper's
    network is VGG16's 13 convolutions: filters (64, 128, 256, 512, 512), depths (2, 2, 3, 3,
    3)). The default (16, 32, 64) x 2 suits 64x64 images on a CPU. ``decoder_activation``:
    ReLU in the decoder, or ``None`` (SegNet-Basic has none). ``classifier_kernel``: 1 (1x1)
    or 3 (the original's 3x3 classifier). ``dropout`` after the deepest half of the encoder
    and decoder stages (Bayesian SegNet, Kendall et al. 2015). Height and width must be
    divisible by ``2 ** len(filters)``. Output: ``(N, H, W, num_classes)`` per-pixel softmax.
    """
    return encoder_decoder(
        input_shape,
        num_classes,
        filters,
        depths,
        kernel_size=kernel_size,
        decoder_activation=decoder_activation,
        classifier_kernel=classifier_kernel,
        dropout=dropout,
        name="segnet",
    )


@register_model(
    "segnet_basic",
    params=1_417_099,
    input_shape=(352, 480, 3),
    num_classes=11,
    tasks=("segment",),
    source=(
        "computed for CamVid (11 classes; 360x480 cropped to 352 rows, divisible by 16): "
        "4 encoder + 4 decoder 7x7 convs of 64 without bias, each + BN 256: 9,408 + 7 x 200,704 "
        "+ 8 x 256 = 1,416,384; classifier 1x1 64->11 with bias 715"
    ),
)
def segnet_basic(input_shape: tuple[int, ...], num_classes: int, dropout: float = 0.0) -> keras.Model:
    """SegNet-Basic, the smaller network of Badrinarayanan, Kendall & Cipolla (2017, "SegNet: A
    deep convolutional encoder-decoder architecture for image segmentation", Section 4): four
    encoder stages of one 7x7 conv-BN-ReLU with 64 maps and a 2x2 max pool with indices, four
    decoder stages of unpooling and one 7x7 conv-BN of 64 maps without ReLU, a 1x1 classifier.
    Height and width must be divisible by 16."""
    return encoder_decoder(
        input_shape,
        num_classes,
        (64,) * 4,
        (1,) * 4,
        kernel_size=7,
        decoder_activation=None,
        classifier_kernel=1,
        dropout=dropout,
        name="segnet_basic",
    )
