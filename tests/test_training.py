"""Training behaviour: each optimiser, schedule, regulariser, initialiser and loss shows its
effect on a tiny synthetic problem."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from conftest import tiny_recipe

from kerasnets.errors import TrainingDiverged
from kerasnets.recipe import validate
from kerasnets.train.build import build_model
from kerasnets.train.callbacks import StopOnNaN
from kerasnets.train.components import OPTIMIZERS
from kerasnets.train.initializers import make_initializer
from kerasnets.train.loop import run
from kerasnets.train.regularizers import make_regularizer, regularize_kernels


def train(**sections):
    recipe = validate(tiny_recipe(**sections), "test")
    return run(recipe, echo=lambda _: None)


OPTIMIZER_SETTINGS = {
    "sgd": {"learning_rate": 0.05, "momentum": 0.9},
    "gd": {"learning_rate": 0.5},
    "rmsprop": {"learning_rate": 0.003},
    "adam": {"learning_rate": 0.01},
    "adamw": {"learning_rate": 0.01, "weight_decay": 0.01},
    "adagrad": {"learning_rate": 0.1},
}


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_reduces_the_training_loss(name):
    data = {"batch_size": "full"} if name == "gd" else {}
    result = train(optimizer={"name": name, **OPTIMIZER_SETTINGS[name]}, data=data, train={"epochs": 4})
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert type(result.model.optimizer).__name__ == OPTIMIZERS.get(name)


def test_full_batch_gradient_descent_takes_one_step_per_epoch():
    result = train(
        optimizer={"name": "gd", "learning_rate": 0.5}, data={"batch_size": "full"}, train={"epochs": 3}
    )
    assert int(result.model.optimizer.iterations) == 3


def test_momentum_and_nesterov_change_the_trajectory():
    plain = train(optimizer={"name": "sgd", "learning_rate": 0.05}, train={"epochs": 2})
    momentum = train(optimizer={"name": "sgd", "learning_rate": 0.05, "momentum": 0.9}, train={"epochs": 2})
    nesterov = train(
        optimizer={"name": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
        train={"epochs": 2},
    )
    losses = {round(r.history["loss"][-1], 6) for r in (plain, momentum, nesterov)}
    assert len(losses) == 3
    assert nesterov.model.optimizer.nesterov and momentum.model.optimizer.momentum == pytest.approx(0.9)


@pytest.mark.parametrize(
    "schedule, expected",
    [
        ({"name": "constant"}, [0.1] * 5),
        ({"name": "step", "step_size": 2, "factor": 0.5}, [0.1, 0.1, 0.05, 0.05, 0.025]),
        ({"name": "exponential", "factor": 0.5}, [0.1, 0.05, 0.025, 0.0125, 0.00625]),
        (
            {"name": "cosine", "warmup_epochs": 1},
            [0.05] + [0.1 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)],
        ),
        ({"name": "constant", "warmup_epochs": 2}, [0.1 / 3, 0.2 / 3, 0.1, 0.1, 0.1]),
    ],
)
def test_schedule_sets_the_learning_rate_each_epoch(schedule, expected):
    result = train(optimizer={"name": "sgd", "learning_rate": 0.1}, schedule=schedule, train={"epochs": 5})
    np.testing.assert_allclose(result.history["learning_rate"], expected, rtol=1e-5)


def test_plateau_divides_by_ten_when_validation_accuracy_stalls():
    result = train(
        optimizer={"name": "sgd", "learning_rate": 1e-9},
        schedule={"name": "plateau", "patience": 1, "factor": 0.1},
        train={"epochs": 4},
    )
    np.testing.assert_allclose(result.history["learning_rate"], [1e-9, 1e-9, 1e-10, 1e-11], rtol=1e-4)


def _tiny_model(**regularization):
    recipe = validate(tiny_recipe(regularization=regularization), "test")
    return build_model(recipe, (8, 8, 1), 4)


@pytest.mark.parametrize("l1, l2", [(0.01, 0.0), (0.0, 0.01), (0.01, 0.02)], ids=["l1", "l2", "elastic"])
def test_weight_penalty_equals_the_hand_computed_sum(l1, l2):
    model = _tiny_model(kernel={"l1": l1, "l2": l2})
    kernels = [layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")]
    expected = sum(l1 * np.abs(k).sum() + l2 * np.square(k).sum() for k in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)
    assert not _tiny_model().losses


def test_l2_raises_the_training_loss():
    plain = train(train={"epochs": 1})
    penalised = train(regularization={"kernel": {"l2": 0.05}}, train={"epochs": 1})
    assert penalised.history["loss"][0] > plain.history["loss"][0] + 0.05


def test_dropout_reaches_the_model_and_acts_only_in_training():
    model = _tiny_model(dropout=0.5)
    rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.5]
    x = np.ones((4, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=False))


def test_label_smoothing_switches_to_one_hot_and_raises_the_loss_floor():
    from kerasnets.train.tasks.classify import make_loss

    recipe = validate(tiny_recipe(regularization={"label_smoothing": 0.2}), "test")
    loss, one_hot = make_loss(recipe)
    assert one_hot
    perfect = np.eye(4, dtype=np.float32)
    assert float(loss(perfect, perfect * 0.9999 + 0.000025)) > 0.3  # the smoothed target is never met


def test_early_stopping_stops_before_the_last_epoch():
    result = train(
        optimizer={"name": "sgd", "learning_rate": 1e-9},
        train={"epochs": 10},
        regularization={"early_stopping": {"monitor": "val_loss", "patience": 1, "min_delta": 0.01}},
    )
    assert len(result.history["loss"]) == 2


@pytest.mark.parametrize("slope", [0.0, 0.5, 1.0])
def test_he_initializer_variance_honours_the_leaky_slope(slope):
    fan_in = 2000
    kernel = make_initializer("he_normal", slope, seed=0)((fan_in, 500)).numpy()
    assert kernel.var() == pytest.approx(2.0 / ((1 + slope**2) * fan_in), rel=0.05)


def test_glorot_uniform_stays_within_its_bound():
    kernel = make_initializer("glorot_uniform", seed=0)((300, 100)).numpy()
    bound = math.sqrt(6 / 400)
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.95 * bound


def test_recipe_initializer_redraws_every_kernel():
    recipe = validate(tiny_recipe(init={"kernel": "random_normal"}), "test")
    model = build_model(recipe, (8, 8, 1), 4)
    kernel = model.get_layer("fc1").kernel.numpy()
    assert kernel.std() == pytest.approx(0.05, rel=0.1)  # Keras RandomNormal stddev, not glorot's 0.1
    count = regularize_kernels(model, make_regularizer(0.0, 0.1))
    assert count == 2 and len(model.losses) == 2


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "mse", "sparse_categorical_crossentropy"])
def test_losses_train(loss):
    result = train(train={"epochs": 3, "loss": loss})
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.test_accuracy > 0.5


def test_same_seed_same_result():
    a, b = train(train={"epochs": 2, "seed": 3}), train(train={"epochs": 2, "seed": 3})
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-5)
    c = train(train={"epochs": 2, "seed": 4})
    assert not np.allclose(a.history["loss"], c.history["loss"])


def test_divergence_is_an_error_naming_the_epoch():
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        train(optimizer={"name": "sgd", "learning_rate": 1e38}, train={"epochs": 3})
    guard = StopOnNaN()
    guard.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    guard.on_epoch_end(4, {"loss": float("inf")})
    assert guard.epoch == 5 and guard.model.stop_training


def test_runtime_knobs_resolve_for_this_machine():
    import tensorflow as tf

    from kerasnets.train.runtime import resolve_runtime

    gpu = bool(tf.config.list_physical_devices("GPU"))
    recipe = validate(tiny_recipe(), "test")
    runtime = resolve_runtime(recipe.train)
    # the "auto" defaults the recipe schema documents: XLA on GPU only, 32 steps per execution
    # on GPU and 16 on CPU, bfloat16 mixed precision on GPU only
    assert (runtime.device, runtime.jit_compile, runtime.steps_per_execution, runtime.mixed_precision) == (
        "gpu" if gpu else "cpu",
        gpu,
        32 if gpu else 16,
        "mixed_bfloat16" if gpu else "float32",
    )
    explicit = validate(tiny_recipe(train={"jit_compile": True, "steps_per_execution": 4}), "test")
    resolved = resolve_runtime(explicit.train)
    assert (resolved.jit_compile, resolved.steps_per_execution) == (True, 4)
