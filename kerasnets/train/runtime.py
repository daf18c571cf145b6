"""Per-device defaults and process-wide settings (seed, determinism, precision, replicas)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from kerasnets.errors import Problem, RecipeError
from kerasnets.rules import TASK_RULES


@dataclass(frozen=True)
class Runtime:
    device: str
    jit_compile: bool
    steps_per_execution: int
    mixed_precision: str
    distribute: str = "none"  # what train.distribute resolved to: none or mirrored
    devices: tuple[str, ...] = ()  # the replicas' devices under mirrored

    @property
    def replicas(self) -> int:
        return max(1, len(self.devices))


def resolve_runtime(train, task: str = "classify", file: str | None = None) -> Runtime:
    """Resolve the ``auto`` knobs for this machine. Measured on a 2-core CPU: XLA makes
    LeNet-5 0.60x and ResNet-20 0.57x as fast, steps_per_execution=16 makes LeNet-5 1.56x.
    Under MirroredStrategy ``auto`` leaves XLA off (not measured safe with it here) and one
    step runs per execution: more fails in Keras 3.15 (keras-team/keras#19246)."""
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    distribute, devices = resolve_distribute(train.distribute, task, file)
    return Runtime(
        device="gpu" if gpu else "cpu",
        jit_compile=(gpu and distribute == "none") if train.jit_compile == "auto" else train.jit_compile,
        steps_per_execution=1
        if distribute == "mirrored"
        else (32 if gpu else 16)
        if train.steps_per_execution == "auto"
        else train.steps_per_execution,
        mixed_precision=("mixed_bfloat16" if gpu else "float32")
        if train.mixed_precision == "auto"
        else train.mixed_precision,
        distribute=distribute,
        devices=devices,
    )


def replica_devices() -> tuple[str, ...]:
    """The devices MirroredStrategy replicates over: the visible GPUs; without any, the
    logical CPUs (more than one only when a program has split the CPU with
    ``tf.config.set_logical_device_configuration`` before TensorFlow started: the tests do)."""
    import tensorflow as tf

    kind = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    return tuple(d.name for d in tf.config.list_logical_devices(kind))


def resolve_distribute(wanted: str, task: str, file: str | None = None) -> tuple[str, tuple[str, ...]]:
    """``train.distribute`` for this machine: (``none`` or ``mirrored``, the replicas' devices).
    ``auto`` is mirrored with more than one GPU (for tasks that can), else none; an explicit
    ``mirrored`` with fewer than two devices is a recipe error at ``train.distribute``."""
    import tensorflow as tf

    if wanted == "auto":
        several = len(tf.config.list_physical_devices("GPU")) > 1
        wanted = "mirrored" if several and TASK_RULES[task].distribute else "none"
    if wanted == "none":
        return "none", ()
    devices = replica_devices()
    if len(devices) < 2:
        message = (
            f"mirrored needs at least 2 devices, this process sees {len(devices)} "
            f"({', '.join(devices) or 'none'}); set auto or none (or CUDA_VISIBLE_DEVICES)"
        )
        raise RecipeError(file or "(recipe)", [Problem("train.distribute", message)])
    return "mirrored", devices


def strategy_scope(runtime: Runtime) -> Any:
    """The scope the model, its optimizer and its restored checkpoint are made in: a
    ``tf.distribute.MirroredStrategy`` over the runtime's devices, or nothing."""
    if runtime.distribute == "none":
        return contextlib.nullcontext()
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(list(runtime.devices)).scope()


def enable_memory_growth() -> None:
    """Let TensorFlow take GPU memory as it needs it instead of nearly all at start, so that
    several processes (sweep workers) can share one GPU. Must run before TensorFlow allocates."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # already initialised: too late, keep going
            tf.config.experimental.set_memory_growth(gpu, True)


def apply_runtime(train, runtime: Runtime) -> None:
    """Seed every generator, switch determinism and the dtype policy."""
    import keras
    import tensorflow as tf

    if train.seed is not None:
        keras.utils.set_random_seed(train.seed)
    if train.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(runtime.mixed_precision)
