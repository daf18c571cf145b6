"""Model builders. Importing this package registers every family module."""

from kerasnets.models import lenet, mlp  # noqa: F401  (registration side effects)
from kerasnets.models.base import (
    MODELS,
    build,
    check_model_options,
    model_options,
    names,
    register_model,
)

__all__ = ["MODELS", "build", "check_model_options", "model_options", "names", "register_model"]
