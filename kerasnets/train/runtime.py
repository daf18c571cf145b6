"""Per-device defaults and process-wide settings (seed, determinism, precision)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    device: str
    jit_compile: bool
    steps_per_execution: int
    mixed_precision: str


def resolve_runtime(train) -> Runtime:
    """Resolve the ``auto`` knobs for this machine. Measured on a 2-core CPU: XLA makes
    LeNet-5 0.60x and ResNet-20 0.57x as fast, steps_per_execution=16 makes LeNet-5 1.56x."""
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    return Runtime(
        device="gpu" if gpu else "cpu",
        jit_compile=gpu if train.jit_compile == "auto" else train.jit_compile,
        steps_per_execution=(32 if gpu else 16)
        if train.steps_per_execution == "auto"
        else train.steps_per_execution,
        mixed_precision=("mixed_bfloat16" if gpu else "float32")
        if train.mixed_precision == "auto"
        else train.mixed_precision,
    )


def apply_runtime(train, runtime: Runtime) -> None:
    """Seed every generator, switch determinism and the dtype policy."""
    import keras
    import tensorflow as tf

    if train.seed is not None:
        keras.utils.set_random_seed(train.seed)
    if train.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(runtime.mixed_precision)
