"""Channel attention usable as a block option (``attention="se"``), lecture seed 001.

Squeeze-and-excitation (Hu, Shen, Sun 2018, "Squeeze-and-Excitation Networks"): squeeze each
feature map to its global average, excite through two fully connected layers (``C -> C/r``
ReLU, ``C/r -> C`` sigmoid) and rescale the channels by the result. Blocks call
``ATTENTION.get(name)(x, name=...)`` so SE-ResNet needs no architecture code of its own.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from kerasnets.registry import Registry


def squeeze_excite(x: keras.KerasTensor, *, name: str, reduction: int = 16) -> keras.KerasTensor:
    """SE block: ``x * sigmoid(W2 relu(W1 gap(x)))``; adds ``2 C^2 / r + C / r + C`` parameters."""
    channels = x.shape[-1]
    gap = keras.layers.GlobalAveragePooling2D if len(x.shape) == 4 else keras.layers.GlobalAveragePooling1D
    s = gap(keepdims=True, name=f"{name}_squeeze")(x)  # 1x1xC
    s = keras.layers.Dense(max(1, channels // reduction), activation="relu", name=f"{name}_reduce")(s)
    s = keras.layers.Dense(channels, activation="sigmoid", name=f"{name}_expand")(s)
    return keras.layers.Multiply(name=f"{name}_scale")([x, s])


ATTENTION: Registry[Callable[..., keras.KerasTensor]] = Registry("attention")
ATTENTION.add("se", squeeze_excite, source="Hu et al. 2018, reduction 16")


def apply_attention(x: keras.KerasTensor, attention: str | None, *, name: str) -> keras.KerasTensor:
    """``x`` unchanged when ``attention`` is None, else the named block (layers ``{name}_{kind}_*``)."""
    if attention is None:
        return x
    return ATTENTION.get(attention)(x, name=f"{name}_{attention}")
