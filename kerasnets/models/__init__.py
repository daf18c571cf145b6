"""Model builders. Importing this package registers every family module."""

from kerasnets.models import alexnet, densenet, googlenet, lenet, mlp, nin, resnet, small, vgg  # noqa: F401  (registration side effects)
from kerasnets.models.base import (
    MODELS,
    build,
    check_model_options,
    model_options,
    names,
    register_model,
)

__all__ = ["MODELS", "build", "check_model_options", "model_options", "names", "register_model"]
