"""GoogLeNet / Inception v1 (Szegedy et al. 2015, "Going deeper with convolutions"), Table 1
of the paper as reproduced in seed 000."""

from __future__ import annotations

import keras

from kerasnets.blocks import aux_classifier, classifier_head, inception_module, local_response_norm
from kerasnets.blocks.inception import conv_relu
from kerasnets.models.base import register_model

#: Table 1, one row per module: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
INCEPTION_TABLE: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),  # 28x28x256
    "3b": (128, 128, 192, 32, 96, 64),  # 28x28x480
    "4a": (192, 96, 208, 16, 48, 64),  # 14x14x512
    "4b": (160, 112, 224, 24, 64, 64),  # 14x14x512
    "4c": (128, 128, 256, 24, 64, 64),  # 14x14x512
    "4d": (112, 144, 288, 32, 64, 64),  # 14x14x528
    "4e": (256, 160, 320, 32, 128, 128),  # 14x14x832
    "5a": (256, 160, 320, 32, 128, 128),  # 7x7x832
    "5b": (384, 192, 384, 48, 128, 128),  # 7x7x1024
}
#: Modules between the 3x3/2 max pools, and the modules the auxiliary classifiers branch from.
INCEPTION_STAGES = (("3a", "3b"), ("4a", "4b", "4c", "4d", "4e"), ("5a", "5b"))
AUX_AFTER = ("4a", "4d")


def _pool(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    return keras.layers.MaxPooling2D(3, strides=2, padding="same", name=name)(x)


@register_model(
    "googlenet",
    params=6_998_552,
    input_shape=(224, 224, 3),
    num_classes=1000,
    source="computed (convolutions with biases, no BN, aux_classifiers=False); Table 1 weights "
    "per module (e.g. 3a 159K = 163,328 weights) are checked in tests",
    variants=[({"aux_classifiers": True}, 13_378_280)],
)
def googlenet(
    input_shape: tuple[int, ...],
    num_classes: int,
    aux_classifiers: bool = False,
    naive_inception: bool = False,
    dropout: float = 0.4,
    lrn: bool = True,
    batch_norm: bool = False,
) -> keras.Model:
    """GoogLeNet: Szegedy et al. (2015), "Going deeper with convolutions", Table 1.

    Stem (conv 7x7/2, pool, LRN, conv 1x1 + 3x3, LRN, pool), nine inception
    modules (``inception_3a_concat`` ... ``inception_5b_concat``) with 3x3/2 max pools after 3b
    and 4e, global average pooling, ``dropout`` (40%), linear + softmax.

    ``aux_classifiers=True`` returns three outputs: the main one, then ``aux1`` (after 4a) and
    ``aux2`` (after 4d), weighted 0.3 in training and dropped for inference.
    ``naive_inception`` uses Figure 2(a) modules (no 1x1 reductions: wider and far costlier).
    ``batch_norm`` puts BN after every convolution (Inception-v2 style, not in the paper).
    Any input of at least 32x32 works (seven stride-2 steps with rounding up).
    """
    bn = {"batch_norm": batch_norm}
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv_relu(inputs, 64, 7, strides=2, padding="same", name="conv1_7x7", **bn)  # 112x112x64
    x = _pool(x, "pool1")  # 56x56x64
    x = local_response_norm(x, name="norm1") if lrn else x
    x = conv_relu(x, 64, 1, name="conv2_3x3_reduce", **bn)
    x = conv_relu(x, 192, 3, padding="same", name="conv2_3x3", **bn)  # 56x56x192
    x = local_response_norm(x, name="norm2") if lrn else x
    x = _pool(x, "pool2")  # 28x28x192
    aux_outputs = []
    for s, stage in enumerate(INCEPTION_STAGES, start=3):
        if s > 3:
            x = _pool(x, f"pool{s - 1}")
        for key in stage:
            x = inception_module(
                x, INCEPTION_TABLE[key], name=f"inception_{key}", naive=naive_inception, **bn
            )
            if aux_classifiers and key in AUX_AFTER:
                aux_outputs.append(aux_classifier(x, num_classes, name=f"aux{len(aux_outputs) + 1}", **bn))
    outputs = classifier_head(x, num_classes, pooling="avg", input_dropout=dropout)
    return keras.Model(inputs, [outputs, *aux_outputs] if aux_outputs else outputs, name="googlenet")
