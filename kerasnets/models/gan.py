"""DCGAN: a generator of transposed convolutions against a convolutional discriminator (seeds 000, 003).

``dcgan`` returns a ``GAN``: a ``keras.Model`` holding both networks, with a ``train_step``
(TensorFlow backend) that first updates the discriminator on a real and a generated batch,
then the generator through the (fixed) discriminator, each with its own optimiser. Images
are in [-1, 1] (the ``generate`` task scales them); ``GAN.generator`` is a plain functional
model, saved as the run's model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np

from kerasnets.blocks import batch_norm, padding_to_multiple
from kerasnets.models.base import register_model

#: Radford et al. (2015): weights from N(0, 0.02), LeakyReLU slope 0.2 in the discriminator.
INIT_STD = 0.02
LEAKY_SLOPE = 0.2


def _init() -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(0.0, INIT_STD)


def generator_model(
    image_shape: tuple[int, ...], latent_dim: int, filters: Sequence[int], kernel_size: int
) -> keras.Model:
    """Project and reshape the noise, then one stride-2 transposed conv per entry of ``filters``
    (the first sets the projection's channels); BN + ReLU between, tanh at the end."""
    height, width, channels = image_shape
    factor = 2 ** len(filters)
    start = (math.ceil(height / factor), math.ceil(width / factor))
    noise = keras.Input(shape=(latent_dim,), name="noise")
    x = keras.layers.Dense(
        start[0] * start[1] * filters[0], use_bias=False, kernel_initializer=_init(), name="generator_project"
    )(noise)
    x = keras.layers.Reshape((*start, filters[0]), name="generator_reshape")(x)
    x = batch_norm(x, name="generator_bn0")
    x = keras.layers.ReLU(name="generator_relu0")(x)
    for i, width_i in enumerate(filters[1:], start=1):
        x = keras.layers.Conv2DTranspose(
            width_i,
            kernel_size,
            2,
            "same",
            use_bias=False,
            kernel_initializer=_init(),
            name=f"generator_deconv{i}",
        )(x)  # spatial size doubles
        x = batch_norm(x, name=f"generator_bn{i}")
        x = keras.layers.ReLU(name=f"generator_relu{i}")(x)
    x = keras.layers.Conv2DTranspose(
        channels, kernel_size, 2, "same", kernel_initializer=_init(), name="generator_output"
    )(x)
    crop = (padding_to_multiple(height, factor), padding_to_multiple(width, factor))
    if any(map(any, crop)):
        x = keras.layers.Cropping2D(crop, name="generator_crop")(x)
    images = keras.layers.Activation("tanh", dtype="float32", name="generator_tanh")(x)
    return keras.Model(noise, images, name="generator")


def discriminator_model(
    image_shape: tuple[int, ...], filters: Sequence[int], kernel_size: int
) -> keras.Model:
    """Stride-2 convolutions with LeakyReLU (BN on all but the first), no pooling; one logit."""
    images = keras.Input(shape=image_shape, name="image")
    x = images
    for i, width_i in enumerate(filters, start=1):
        x = keras.layers.Conv2D(
            width_i,
            kernel_size,
            2,
            "same",
            use_bias=i == 1,
            kernel_initializer=_init(),
            name=f"discriminator_conv{i}",
        )(x)  # spatial size halves
        if i > 1:
            x = batch_norm(x, name=f"discriminator_bn{i}")
        x = keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"discriminator_lrelu{i}")(x)
    x = keras.layers.Flatten(name="discriminator_flatten")(x)
    logits = keras.layers.Dense(1, kernel_initializer=_init(), dtype="float32", name="discriminator_logits")(
        x
    )
    return keras.Model(images, logits, name="discriminator")


def _penalty(model: keras.Model):
    """The sum of a network's regularisation losses (0.0 when it has none)."""
    losses = model.losses
    return keras.ops.sum(keras.ops.stack([keras.ops.cast(v, "float32") for v in losses])) if losses else 0.0


@keras.saving.register_keras_serializable(package="kerasnets")
class GAN(keras.Model):
    """A generator and a discriminator trained against each other (non-saturating losses).

    ``compile(d_optimizer=..., g_optimizer=...)``; ``fit`` on batches of real images (labels,
    if any, are ignored) reports ``d_loss`` and ``g_loss`` per epoch. Calling the model on
    noise runs the generator; ``sample(n, seed)`` draws ``n`` images in [-1, 1].
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.generator, self.discriminator, self.seed = generator, discriminator, seed
        self.latent_dim = int(generator.input_shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed, name="noise_seed")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
        self.d_optimizer = self.g_optimizer = None
        self.built = True  # both networks are built functional models

    def call(self, noise, training: bool = False):
        return self.generator(noise, training=training)

    def compile(self, d_optimizer, g_optimizer, **kwargs) -> None:
        """Separate optimisers for the two networks (``kwargs``: ``jit_compile``,
        ``steps_per_execution``...). No ``optimizer``: learning-rate schedules for a single
        optimiser do not apply."""
        super().compile(optimizer=None, **kwargs)
        self.d_optimizer = keras.optimizers.get(d_optimizer)
        self.g_optimizer = keras.optimizers.get(g_optimizer)
        # built now, so weight checkpoints hold the optimiser state from the first epoch on
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.d_loss_tracker, self.g_loss_tracker]

    def _noise(self, batch):
        return keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)

    def _bce(self, target: float, logits):
        logits = keras.ops.cast(logits, "float32")
        return self.cross_entropy(keras.ops.full_like(logits, target), logits)

    def train_step(self, data):
        import tensorflow as tf

        real = data[0] if isinstance(data, tuple | list) else data
        batch = tf.shape(real)[0]
        noise = self._noise(batch)
        with tf.GradientTape() as tape:  # discriminator: real -> 1, generated -> 0
            fake = self.generator(noise, training=True)
            d_loss = self._bce(1.0, self.discriminator(real, training=True)) + self._bce(
                0.0, self.discriminator(fake, training=True)
            )
            d_total = d_loss + _penalty(self.discriminator)  # the recipe's kernel regularisers
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_total, d_vars), d_vars, strict=True))
        noise = self._noise(batch)
        with tf.GradientTape() as tape:  # generator: make the updated discriminator say 1
            g_loss = self._bce(1.0, self.discriminator(self.generator(noise, training=True), training=True))
            g_total = g_loss + _penalty(self.generator)
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_total, g_vars), g_vars, strict=True))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` generated images in [-1, 1]; the same ``seed`` gives the same images."""
        noise = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")
        return keras.ops.convert_to_numpy(self.generator(noise, training=False))

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "seed": self.seed,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
        }

    def get_compile_config(self) -> dict | None:
        if self.d_optimizer is None:
            return None
        return {
            "d_optimizer": keras.optimizers.serialize(self.d_optimizer),
            "g_optimizer": keras.optimizers.serialize(self.g_optimizer),
        }

    def compile_from_config(self, config: dict) -> None:
        self.compile(
            d_optimizer=keras.optimizers.deserialize(config["d_optimizer"]),
            g_optimizer=keras.optimizers.deserialize(config["g_optimizer"]),
        )

    @classmethod
    def from_config(cls, config: dict) -> GAN:
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


@register_model(
    "dcgan",
    params=899_010,
    input_shape=(28, 28, 1),
    num_classes=10,
    source=(
        "G: 100*7*7*128 + 4*128 (BN) + 4*4*128*64 + 4*64 + 4*4*64*1+1 = 760,065; "
        "D: 4*4*1*64+64 + 4*4*64*128 + 4*128 + 7*7*128+1 = 138,945 (latent_dim=100, kernel 4, "
        "BN moving statistics included)"
    ),
    tasks=("generate",),
)
def dcgan(
    input_shape: tuple[int, ...],
    num_classes: int,
    latent_dim: int = 100,
    generator_filters: Sequence[int] = (128, 64),
    discriminator_filters: Sequence[int] = (64, 128),
    kernel_size: int = 4,
    seed: int = 0,
) -> GAN:
    """A deep convolutional GAN: generator and discriminator wrapped in a trainable ``GAN``.

    Unsupervised representation learning with deep convolutional generative adversarial
    networks, Radford, Metz, Chintala (2015); adversarial nets: Goodfellow et al. (2014).
    Generator: noise -> dense projection -> stride-2 transposed convs with BN + ReLU -> tanh
    image of ``input_shape`` (cropped when a side is not a multiple of
    ``2 ** len(generator_filters)``). Discriminator: stride-2 convs, LeakyReLU 0.2, BN but on
    the first, no pooling, one logit. ``num_classes`` is ignored.

    Args:
        latent_dim: size of the generator's noise vector (z).
        generator_filters: channels of the projection and of each hidden transposed conv;
            its length is the number of 2x upsamplings.
        discriminator_filters: channels of the discriminator's strided convolutions.
        kernel_size: kernel of every (transposed) convolution.
        seed: seed of the noise drawn during training.
    """
    generator = generator_model(input_shape, latent_dim, generator_filters, kernel_size)
    discriminator = discriminator_model(input_shape, discriminator_filters, kernel_size)
    return GAN(generator, discriminator, seed=seed, name="dcgan")
