"""Stochastic depth (Huang, Sun, Liu, Sedra, Weinberger 2016, "Deep networks with stochastic
depth"): in training each example's residual branch (or a dense layer's new features) is
dropped with probability ``rate`` and kept ones are scaled by ``1 / (1 - rate)``; at inference
the layer is the identity. Rates rise linearly with depth to the last block's (``drop_rates``).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="kerasnets")
class DropPath(keras.layers.Dropout):
    """Per-example dropout of a whole tensor: Keras' ``Dropout`` with noise shape
    ``(batch, 1, ..., 1)`` for inputs of any rank (no weights; the identity at inference)."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs) -> None:
        kwargs.pop("noise_shape", None)  # always one draw per example
        super().__init__(rate, seed=seed, **kwargs)

    def call(self, inputs, training=False):
        self.noise_shape = (None,) + (1,) * (len(inputs.shape) - 1)  # Keras fills in the batch
        return super().call(inputs, training=training)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("noise_shape", None)
        return config


def drop_path(x: keras.KerasTensor, rate: float, *, name: str) -> keras.KerasTensor:
    """``x`` behind a ``DropPath`` layer named ``name``; no layer when ``rate`` is 0 (the model
    without stochastic depth is unchanged, layer for layer)."""
    return DropPath(rate, name=name)(x) if rate else x


def drop_rates(drop_path: float, count: int) -> list[float]:
    """The linear decay rule of Huang et al.: block ``l`` of ``count`` drops with probability
    ``drop_path * l / count`` (the last block: ``drop_path``)."""
    if not 0.0 <= drop_path < 1.0:
        raise ValueError(f"drop_path must be in [0, 1), got {drop_path!r}")
    return [drop_path * i / count for i in range(1, count + 1)]
