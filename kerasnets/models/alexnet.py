"""AlexNet and ZFNet, written straight down like the per-layer tables of seed 000."""

from __future__ import annotations

import keras

from kerasnets.blocks import LEAKY_SLOPE, classifier_head, conv_act, local_response_norm, pool, pooled_filters
from kerasnets.choices import DenseActivation, LayerPadding, Pooling
from kerasnets.models.base import register_model


def _maybe_lrn(x: keras.KerasTensor, lrn: bool, name: str) -> keras.KerasTensor:
    return local_response_norm(x, name=name) if lrn else x


def _padding(padding: str, paper: str | int) -> str | int:
    """The paper's padding of one layer, unless the recipe sets one for every layer."""
    return paper if padding == "paper" else padding


@register_model(
    "alexnet",
    params=62_378_344,
    input_shape=(224, 224, 3),
    num_classes=1000,
    small_input_shape=(64, 64, 3),
    source="seed 000 AlexNet/ZFNet table (single tower, no LRN): 34,944 + 614,656 + 885,120 + "
    "1,327,488 + 884,992 + 37,752,832 + 16,781,312 + 4,097,000",
)
def alexnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    lrn: bool = False,
    dropout: float = 0.5,
    activation: DenseActivation = "relu",
    leaky_slope: float = LEAKY_SLOPE,
    pooling: Pooling = "max",
    pool_p: float = 3.0,
    padding: LayerPadding = "paper",
) -> keras.Model:
    """AlexNet in one tower: Krizhevsky, Sutskever, Hinton (2012), "ImageNet classification with
    deep convolutional neural networks".

    conv1 11x11/4 pad 2 (224 -> 55x55x96), pool 3x3/2, conv2 5x5 (256), pool, conv3-5 3x3
    (384, 384, 256), pool -> 6x6x256, FC 4096, FC 4096, output. ``lrn`` adds the paper's local
    response normalisation after the ReLUs of conv1 and conv2 (no parameters); ``dropout``
    (0.5 in the paper) follows FC6 and FC7. Needs at least 63x63 inputs (three 3x3/2 pools).
    The lectures' blocks: ``activation`` for every convolution and hidden FC layer
    (``maxout``: twice the maps / units, max over pairs; ``leaky_relu`` of slope
    ``leaky_slope``); ``pooling`` for the three pools (``avg``, ``l2``, ``lp`` of norm ``pool_p``,
    ``cross_channel_max``: the convolution before each pool makes twice its maps); ``padding``
    ``paper`` (per layer, as above) or ``valid`` / ``same`` / ``full`` for every convolution.
    """
    act = {"activation": activation, "leaky_slope": leaky_slope}
    pooled = {"strides": 2, "p": pool_p}
    width = lambda filters: pooled_filters(filters, pooling)  # noqa: E731  (maps before a pool)
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv_act(inputs, width(96), 11, strides=4, padding=_padding(padding, 2), name="conv1", **act)
    x = _maybe_lrn(x, lrn, "norm1")  # 55x55x96
    x = pool(x, pooling, 3, name="pool1", **pooled)  # 27x27x96
    x = conv_act(x, width(256), 5, padding=_padding(padding, "same"), name="conv2", **act)  # 27x27x256
    x = _maybe_lrn(x, lrn, "norm2")
    x = pool(x, pooling, 3, name="pool2", **pooled)  # 13x13x256
    x = conv_act(x, 384, 3, padding=_padding(padding, "same"), name="conv3", **act)  # 13x13x384
    x = conv_act(x, 384, 3, padding=_padding(padding, "same"), name="conv4", **act)  # 13x13x384
    x = conv_act(x, width(256), 3, padding=_padding(padding, "same"), name="conv5", **act)  # 13x13x256
    x = pool(x, pooling, 3, name="pool3", **pooled)  # 6x6x256
    outputs = classifier_head(x, num_classes, hidden=(4096, 4096), dropout=dropout, **act)
    return keras.Model(inputs, outputs, name="alexnet")


@register_model(
    "zfnet",
    params=107_627_624,
    input_shape=(224, 224, 3),
    num_classes=1000,
    small_input_shape=(64, 64, 3),
    source="seed 000 AlexNet/ZFNet table: 14,208 + 614,656 + 1,180,160 + 4,719,616 + "
    "4,719,104 + 75,501,568 + 16,781,312 + 4,097,000",
)
def zfnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    lrn: bool = False,
    dropout: float = 0.5,
    activation: DenseActivation = "relu",
    leaky_slope: float = LEAKY_SLOPE,
    pooling: Pooling = "max",
    pool_p: float = 3.0,
    padding: LayerPadding = "paper",
) -> keras.Model:
    """ZFNet: Zeiler & Fergus (2014), "Visualizing and understanding convolutional networks".

    AlexNet with a 7x7/2 first layer (224 -> 110x110x96) and a 5x5/2 second layer (26x26x256),
    and the wider conv3-5 of seed 000's table (512, 1024, 512). Pools 1 and 2 round up (Caffe's
    ceil mode, here ``same`` padding) so 110 -> 55 and 26 -> 13 as in the paper's Figure 3.
    ``lrn`` adds the contrast normalisation after pools 1 and 2; ``dropout`` follows FC6, FC7.
    Needs at least 53x53 inputs. The lectures' blocks: ``activation`` for every convolution
    and hidden FC layer (``maxout``: twice the maps / units, max over pairs; ``leaky_relu`` of slope
    ``leaky_slope``); ``pooling`` for the three pools (``avg``, ``l2``, ``lp`` of norm ``pool_p``,
    ``cross_channel_max``: the convolution before each pool makes twice its maps); ``padding``
    ``paper`` (per layer, as above) or ``valid`` / ``same`` / ``full`` for every convolution.
    """
    act = {"activation": activation, "leaky_slope": leaky_slope}
    width = lambda filters: pooled_filters(filters, pooling)  # noqa: E731  (maps before a pool)
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv_act(inputs, width(96), 7, strides=2, padding=_padding(padding, 1), name="conv1", **act)
    x = pool(x, pooling, 3, strides=2, padding="same", p=pool_p, name="pool1")  # 55x55x96
    x = _maybe_lrn(x, lrn, "norm1")
    x = conv_act(x, width(256), 5, strides=2, padding=_padding(padding, "valid"), name="conv2", **act)
    x = pool(x, pooling, 3, strides=2, padding="same", p=pool_p, name="pool2")  # 13x13x256
    x = _maybe_lrn(x, lrn, "norm2")
    x = conv_act(x, 512, 3, padding=_padding(padding, "same"), name="conv3", **act)  # 13x13x512
    x = conv_act(x, 1024, 3, padding=_padding(padding, "same"), name="conv4", **act)  # 13x13x1024
    x = conv_act(x, width(512), 3, padding=_padding(padding, "same"), name="conv5", **act)  # 13x13x512
    x = pool(x, pooling, 3, strides=2, p=pool_p, name="pool3")  # 6x6x512
    outputs = classifier_head(x, num_classes, hidden=(4096, 4096), dropout=dropout, **act)
    return keras.Model(inputs, outputs, name="zfnet")
