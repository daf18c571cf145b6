"""Network in Network (Lin, Chen, Yan 2013): mlpconv layers and a global-average-pooling head
(seed 000: mlpconv + FC 11.59% vs + GAP 10.41% CIFAR-10 test error)."""

from __future__ import annotations

from typing import Literal

import keras

from kerasnets.blocks import HEADS, mlpconv
from kerasnets.models.base import register_model

#: The CIFAR-10 NiN of the paper's Caffe model: (filters of the mlpconv, kernel, pool after it).
NIN_LAYERS = (
    ((192, 160, 96), 5, "max"),
    ((192, 192, 192), 5, "avg"),
    ((192, 192), 3, None),  # the head's 1x1 convolution to the classes completes the third mlpconv
)
#: The option's values -> ``HEADS``: the paper's GAP head is the ``nin`` head; ``fc`` flattens.
NIN_HEADS = {"gap": "nin", "fc": "fc"}
POOLS = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}


@register_model(
    "nin",
    params=966_986,
    input_shape=(32, 32, 3),
    num_classes=10,
    source="computed: Lin et al. 2013 CIFAR-10 configuration (3 mlpconv, GAP head)",
    variants=[({"head": "fc"}, 1_087_946)],
)
def nin(
    input_shape: tuple[int, ...],
    num_classes: int,
    head: Literal["gap", "fc"] = "gap",
    dropout: float = 0.5,
) -> keras.Model:
    """Network in Network: Lin, Chen, Yan (2013), "Network in network".

    Three mlpconv layers (a convolution then 1x1 convolutions: a micro-MLP slid over the
    image) separated by 3x3/2 pools with ``dropout`` (0.5) after them. ``head="gap"``: a 1x1
    convolution to one map per class and global average pooling (the paper);
    ``head="fc"``: flatten and a fully connected output layer (the comparison of seed 000).
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, (filters, kernel, pool) in enumerate(NIN_LAYERS, start=1):
        x = mlpconv(x, filters, kernel, name=f"mlpconv{i}")
        if pool:
            x = POOLS[pool](3, strides=2, padding="same", name=f"mlpconv{i}_pool")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"mlpconv{i}_dropout")(x)
    outputs = HEADS[NIN_HEADS[head]](x, num_classes, hidden=())
    return keras.Model(inputs, outputs, name="nin")
