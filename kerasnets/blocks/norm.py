"""Local response normalisation, the "NORM" layers of AlexNet (Krizhevsky et al. 2012, s. 3.3).

``b_c = a_c / (k + alpha * sum_{c' in window(c)} a_{c'}^2) ** beta`` where the window holds
``size`` adjacent channels centred on ``c`` (clipped at the first and last channel). AlexNet
used ``k=2, size=5, alpha=1e-4, beta=0.75``; VGG A-LRN (Simonyan & Zisserman 2014) and
GoogLeNet (Szegedy et al. 2015) reuse those values. ``alpha`` multiplies the plain sum, as in the
paper and ``tf.nn.local_response_normalization`` (Caffe divides it by ``size``).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasnets")
class LocalResponseNormalization(keras.layers.Layer):
    """Normalise each activation by the energy of its ``size`` neighbouring channels."""

    def __init__(
        self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if size < 1:
            raise ValueError(f"size must be a positive number of channels, got {size!r}")
        self.size, self.alpha, self.beta, self.k = int(size), float(alpha), float(beta), float(k)

    def call(self, inputs):
        channels = inputs.shape[-1]
        before = self.size // 2
        pad = [[0, 0]] * (len(inputs.shape) - 1) + [[before, self.size - 1 - before]]
        squares = ops.pad(ops.square(inputs), pad)
        # Sum of squares over the window: one shifted slice per window position.
        energy = squares[..., 0:channels]
        for shift in range(1, self.size):
            energy = energy + squares[..., shift : shift + channels]
        return inputs / ops.power(self.k + self.alpha * energy, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "size": self.size,
            "alpha": self.alpha,
            "beta": self.beta,
            "k": self.k,
        }


def local_response_norm(
    x: keras.KerasTensor,
    *,
    name: str,
    size: int = 5,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 2.0,
) -> keras.KerasTensor:
    """AlexNet's LRN with the paper's constants by default (AlexNet, VGG A-LRN, GoogLeNet)."""
    return LocalResponseNormalization(size=size, alpha=alpha, beta=beta, k=k, name=name)(x)
