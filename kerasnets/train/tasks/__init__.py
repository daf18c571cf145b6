"""Tasks: what a recipe's model learns, and what that changes in the one training loop.

``classify`` and ``sequence`` learn labels; ``reconstruct`` and ``denoise`` learn the clean
(standardised) input back, the latter from a copy corrupted on the fly; ``segment`` learns a
class per pixel; ``seq2seq`` learns a class at every output step; ``generate`` trains a GAN.
Importing this package registers them all.
"""

from kerasnets.train.tasks import classify, generate, regression, segment, seq2seq  # noqa: F401  (registrations)
from kerasnets.train.tasks.base import TASKS, Task
from kerasnets.train.tasks.regression import corrupt, psnr

__all__ = ["TASKS", "Task", "corrupt", "psnr"]
