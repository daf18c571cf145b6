"""Model builders. Importing this package registers every family module."""

from kerasnets.models import (  # noqa: F401  (registration side effects)
    alexnet,
    autoencoder,
    densenet,
    gan,
    googlenet,
    lenet,
    mlp,
    nin,
    resnet,
    segnet,
    seq2seq,
    sequence,
    small,
    vgg,
)
from kerasnets.models.base import (
    MODELS,
    build,
    check_model_options,
    model_options,
    model_tasks,
    models_for_task,
    names,
    register_model,
)

__all__ = [
    "MODELS",
    "build",
    "check_model_options",
    "model_options",
    "model_tasks",
    "models_for_task",
    "names",
    "register_model",
]
