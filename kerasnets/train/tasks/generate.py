"""``generate``: a GAN, images scaled to [-1, 1], discriminator and generator losses per epoch."""

from __future__ import annotations

from kerasnets.train.callbacks import SampleGrid
from kerasnets.train.optimizers import make_optimizer
from kerasnets.train.tasks.base import TASKS, Task


@TASKS.register("generate")
class Generate(Task):
    """A GAN (``kerasnets.models.gan.GAN``): two optimizers with the recipe's settings."""

    name = "generate"
    headline = "g_loss"

    def stats(self, splits):
        channels = splits.input_shape[-1]
        return [127.5] * channels, [127.5] * channels

    def compile(self, model, optimizer, jit_compile, steps_per_execution):
        model.compile(
            d_optimizer=optimizer,
            g_optimizer=make_optimizer(self.recipe.optimizer),  # same settings, own state
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )

    def callbacks(self, model, tracker):
        return [SampleGrid(tracker)] if tracker.active else []

    def evaluate(self, net, pipelines, splits, batch_size):
        return {}

    def inference(self, model):
        return model.generator
