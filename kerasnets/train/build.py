"""The recipe's model: built, regularised and initialised, before any run is opened.

A model that cannot be built for the data (an input too small for a builder option that
validation could not see, say) is a recipe error naming the key, never a traceback.
"""

from __future__ import annotations

from typing import Any

import keras

from kerasnets.blocks import set_head_activation
from kerasnets.errors import Problem, RecipeError
from kerasnets.models import build
from kerasnets.rules import class_count, monitor_problems
from kerasnets.train.initializers import initialize_kernels
from kerasnets.train.regularizers import make_regularizer, regularize_kernels


def synchronize_batch_norm(model: keras.Model) -> int:
    """Make every BatchNormalization of ``model`` compute its batch statistics over all
    replicas (Keras' ``synchronized=True``: same weights, so the same parameter count);
    returns how many layers changed."""
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    for layer in layers:
        layer.synchronized = True  # read when the layer is called (traced) in fit
    return len(layers)


def build_model(
    recipe: Any,
    input_shape: tuple[int, ...],
    num_classes: int,
    replicas: int = 1,
    extra: dict[str, Any] | None = None,
) -> keras.Model:
    """The recipe's model with its head activation, dropout, weight penalty and kernel
    initialiser (uncompiled); ``extra`` adds the options the data decide (the task's
    ``model_options``);
    kernels are drawn from ``train.seed``, one seed per layer. With ``train.sync_batchnorm``
    and more than one replica, BatchNormalization is synchronized across replicas."""
    options = {**recipe.model.options, **(extra or {})}
    if recipe.regularization.dropout is not None:
        options["dropout"] = recipe.regularization.dropout
    model = build(recipe.model.name, input_shape, recipe.model.num_classes or num_classes, **options)
    if recipe.model.head_activation != "softmax":
        set_head_activation(model, recipe.model.head_activation)
    kernel = recipe.regularization.kernel
    regularizer = make_regularizer(kernel.l1, kernel.l2)
    if regularizer is not None:
        regularize_kernels(model, regularizer)
    if recipe.init.kernel:
        initialize_kernels(model, recipe.init.kernel, recipe.init.leaky_slope, recipe.train.seed)
    if recipe.train.sync_batchnorm and replicas > 1:
        synchronize_batch_norm(model)
    return model


def check_monitors(recipe: Any, num_classes: int, file: str | None = None) -> None:
    """What validation could not tell before the data were read: whether the model has more
    than ``eval.top_k`` classes, so that a ``top_k`` monitor exists. RecipeError if not."""
    if class_count(recipe) is not None:
        return  # validation has checked it
    problems = monitor_problems(recipe, num_classes)
    if problems:
        raise RecipeError(file or "(recipe)", [Problem(key, message) for key, message, _ in problems])


def build_or_explain(
    recipe: Any,
    input_shape: tuple[int, ...],
    num_classes: int,
    file: str | None = None,
    replicas: int = 1,
    extra: dict[str, Any] | None = None,
) -> keras.Model:
    """``build_model``, with a failure reported as a ``RecipeError`` at ``model``."""
    try:
        return build_model(recipe, input_shape, num_classes, replicas, extra)
    except (ValueError, TypeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        shape = "x".join(map(str, input_shape))
        message = (
            f"model {recipe.model.name!r} cannot be built for input {shape} ({reason}); "
            "check data.image_size and the model options"
        )
        raise RecipeError(file or "(recipe)", [Problem("model", message)]) from None
