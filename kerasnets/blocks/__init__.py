"""Reusable building blocks shared by every builder."""

from kerasnets.blocks.conv import batch_norm, bn_act_conv, conv, conv_act, conv_bn_act
from kerasnets.blocks.heads import classifier_head

__all__ = [
    "batch_norm",
    "bn_act_conv",
    "classifier_head",
    "conv",
    "conv_act",
    "conv_bn_act",
]
