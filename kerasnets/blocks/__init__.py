"""Reusable building blocks shared by every builder."""

from kerasnets.blocks.activations import (
    LEAKY_SLOPE,
    Maxout,
    activation_layer,
    activation_width,
    dense_act,
    maxout,
)
from kerasnets.blocks.attention import ATTENTION, apply_attention, squeeze_excite
from kerasnets.blocks.conv import (
    batch_norm,
    bn_act_conv,
    conv,
    conv_act,
    conv_bn_act,
    conv_maxout,
    padding_to_multiple,
)
from kerasnets.blocks.dense import dense_block, dense_layer, transition_block
from kerasnets.blocks.droppath import DropPath, drop_path, drop_rates
from kerasnets.blocks.heads import HEADS, classifier_head, fc_head, gap_head, nin_head, set_head_activation
from kerasnets.blocks.inception import InceptionWidths, aux_classifier, inception_module
from kerasnets.blocks.mlpconv import mlpconv
from kerasnets.blocks.norm import LocalResponseNormalization, local_response_norm
from kerasnets.blocks.pooling import (
    POOLING,
    CrossChannelMaxPooling,
    LpPooling2D,
    MaxPoolingWithArgmax2D,
    MaxUnpooling2D,
    cross_channel_max_pool,
    lp_pool,
    max_over_groups,
    pool,
    pool_with_indices,
    pooled_filters,
    unpool,
)
from kerasnets.blocks.residual import (
    BLOCKS,
    SHORTCUTS,
    ZeroPadChannels,
    basic_block,
    bottleneck_block,
    projection_shortcut,
    residual_stage,
    zero_pad_shortcut,
)

#: Every custom layer class (each registered with ``keras.saving`` under package "kerasnets").
CUSTOM_LAYERS = (
    LocalResponseNormalization,
    LpPooling2D,
    CrossChannelMaxPooling,
    Maxout,
    ZeroPadChannels,
    MaxPoolingWithArgmax2D,
    MaxUnpooling2D,
    DropPath,
)

__all__ = [
    "ATTENTION",
    "BLOCKS",
    "CUSTOM_LAYERS",
    "HEADS",
    "LEAKY_SLOPE",
    "POOLING",
    "SHORTCUTS",
    "CrossChannelMaxPooling",
    "DropPath",
    "InceptionWidths",
    "LocalResponseNormalization",
    "LpPooling2D",
    "MaxPoolingWithArgmax2D",
    "MaxUnpooling2D",
    "Maxout",
    "ZeroPadChannels",
    "activation_layer",
    "activation_width",
    "apply_attention",
    "aux_classifier",
    "basic_block",
    "batch_norm",
    "bn_act_conv",
    "bottleneck_block",
    "classifier_head",
    "conv",
    "conv_act",
    "conv_bn_act",
    "conv_maxout",
    "cross_channel_max_pool",
    "dense_block",
    "dense_act",
    "dense_layer",
    "drop_path",
    "drop_rates",
    "fc_head",
    "gap_head",
    "inception_module",
    "local_response_norm",
    "lp_pool",
    "max_over_groups",
    "maxout",
    "mlpconv",
    "nin_head",
    "padding_to_multiple",
    "pool",
    "pool_with_indices",
    "pooled_filters",
    "projection_shortcut",
    "residual_stage",
    "set_head_activation",
    "squeeze_excite",
    "transition_block",
    "unpool",
    "zero_pad_shortcut",
]
