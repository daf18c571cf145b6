"""The training knobs of the best training scripts (timm's train.py): EMA of the weights,
gradient accumulation, stochastic depth and averaging the k best epochs, each by its effect."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import tiny_recipe

from kerasnets.blocks import DropPath, drop_rates
from kerasnets.errors import RecipeError
from kerasnets.models import build
from kerasnets.recipe import OptimizerSection, validate
from kerasnets.rules import metric_mode
from kerasnets.train.callbacks import EmaValidation, KeepBest
from kerasnets.train.loop import run
from kerasnets.train.optimizers import make_optimizer


def _with_model(model: dict, **sections) -> dict:
    recipe = tiny_recipe(**sections)
    recipe["model"] = model  # not merged with the tiny MLP's options
    return recipe


def _problems(data: dict) -> dict[str, str]:
    with pytest.raises(RecipeError) as info:
        validate(data, "r.yaml")
    return {p.key: p.message for p in info.value.problems}


def _data(n: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    return x, y


def _small_model(seed: int = 0) -> keras.Model:
    """No BatchNorm, no dropout: each step is a function of the batch alone."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


def _averages(optimizer) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in optimizer.variables if "average" in v.path]


class Recorder(keras.callbacks.Callback):
    """Each epoch's weights as training left them and the logs (registered last)."""

    def __init__(self):
        super().__init__()
        self.weights, self.logs = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([np.array(w) for w in self.model.get_weights()])
        self.logs.append(dict(logs))


# ----------------------------------------------------------------------------- EMA


def test_ema_validates_on_the_averages_and_ends_on_them():
    x, y = _data()
    model = _small_model()
    optimizer = make_optimizer(OptimizerSection(name="sgd", learning_rate=0.5, ema_momentum=0.9))
    assert optimizer.use_ema and optimizer.ema_momentum == 0.9
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")

    class Check(keras.callbacks.Callback):  # runs after EmaValidation's swap-in, before its swap-back
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_epoch_end(self, epoch, logs=None):
            averaged = _averages(self.model.optimizer)
            current = [keras.ops.convert_to_numpy(v) for v in self.model.trainable_variables]
            self.seen.append(all(np.allclose(a, c) for a, c in zip(averaged, current, strict=True)))
            self.val_loss = logs["val_loss"]
            self.val_on_averages = float(self.model.evaluate(x[:16], y[:16], verbose=0))

    check, recorder = Check(), Recorder()
    model.fit(
        x[16:], y[16:], batch_size=8, epochs=3, validation_data=(x[:16], y[:16]), shuffle=False,
        callbacks=[check, EmaValidation(), recorder], verbose=0,
    )  # fmt: skip
    assert check.seen == [True, True, True]  # validation saw the averaged weights
    assert check.val_loss == pytest.approx(check.val_on_averages, rel=1e-5)
    raw = recorder.weights[-1][:4]  # the raw weights were back for the checkpoint
    final = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    assert not all(np.allclose(r, f) for r, f in zip(raw, final, strict=True))
    for average, weight in zip(_averages(model.optimizer), final, strict=True):  # fit's finalize
        np.testing.assert_allclose(weight, average)


def test_an_ema_run_tests_and_logs_the_averaged_weights():
    recipe = validate(tiny_recipe(optimizer={"ema_momentum": 0.9}, train={"epochs": 2}), "t")
    result = run(recipe, echo=lambda _: None)
    net = result.model
    weights = [keras.ops.convert_to_numpy(v) for v in net.trainable_variables]
    averages = _averages(net.optimizer)
    assert len(averages) == len(weights)
    for a, w in zip(averages, weights, strict=True):
        np.testing.assert_allclose(w, a)
    assert result.test_accuracy is not None


# ----------------------------------------------------------------------------- accumulation


def test_n_accumulated_steps_equal_one_step_of_n_times_the_batch():
    x, y = _data(32)
    section = OptimizerSection(name="sgd", learning_rate=0.3)
    accumulated, big = _small_model(), _small_model()
    big.set_weights(accumulated.get_weights())
    accumulated.compile(
        optimizer=make_optimizer(section, accumulate=4), loss="sparse_categorical_crossentropy"
    )
    big.compile(optimizer=make_optimizer(section), loss="sparse_categorical_crossentropy")
    assert accumulated.optimizer.gradient_accumulation_steps == 4
    start = [np.array(w) for w in big.get_weights()]
    accumulated.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # 4 steps of 8
    big.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)  # 1 step of 32
    for a, b, s in zip(accumulated.get_weights(), big.get_weights(), start, strict=True):
        assert not np.allclose(b, s)  # a real update
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- stochastic depth

DROP_PATH_MODELS = [
    ("resnet20", {}),
    ("resnet20", {"preact": True}),
    ("resnet18", {}),
    ("densenet_bc", {"depth": 40}),
    ("resnet50", {}),  # bottleneck blocks
    pytest.param("densenet121", {}, marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("name", "options"), DROP_PATH_MODELS)
def test_drop_path_adds_no_weights_is_identity_at_inference_and_drops_in_training(name, options):
    plain = build(name, (32, 32, 3), 10, **options)
    dropping = build(name, (32, 32, 3), 10, drop_path=0.5, **options)
    assert dropping.count_params() == plain.count_params()
    for layer in plain.layers:  # by name: the extra layers may reorder the weight list
        dropping.get_layer(layer.name).set_weights(layer.get_weights())
    x = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(dropping(x, training=False), plain(x, training=False), rtol=1e-5, atol=1e-6)
    assert not np.allclose(dropping(x, training=True), plain(x, training=True), atol=1e-4)
    rates = [layer.rate for layer in dropping.layers if isinstance(layer, DropPath)]
    assert rates == pytest.approx(drop_rates(0.5, len(rates)))  # rising linearly to 0.5
    assert rates[-1] == pytest.approx(0.5)


def test_drop_path_drops_whole_examples_and_scales_the_kept_ones():
    layer = DropPath(0.5, seed=1)
    x = np.ones((256, 4, 4, 2), "float32")
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    per_example = y.reshape(256, -1)
    assert set(np.unique(per_example)) <= {0.0, 2.0}
    assert (per_example.min(axis=1) == per_example.max(axis=1)).all()  # all or nothing per example
    assert 0.3 < (per_example[:, 0] == 0).mean() < 0.7
    np.testing.assert_array_equal(layer(x, training=False), x)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, DropPath) and clone.rate == 0.5
    assert drop_rates(0.2, 4) == pytest.approx([0.05, 0.1, 0.15, 0.2])


# ----------------------------------------------------------------------------- keep best


@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_keep_best_ends_on_the_mean_of_the_k_best_epochs(monitor):
    x, y = _data(96)
    model = _small_model()
    model.compile(
        optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    keeper, recorder = KeepBest(2, monitor, average=True), Recorder()
    model.fit(
        x[32:], y[32:], batch_size=8, epochs=5, validation_data=(x[:32], y[:32]), shuffle=False,
        callbacks=[keeper, recorder], verbose=0,
    )  # fmt: skip
    values = np.array([logs[monitor] for logs in recorder.logs])
    sign = 1 if metric_mode(monitor) == "max" else -1
    best = sorted(range(5), key=lambda i: (-sign * values[i], i))[:2]
    assert keeper.epochs == [i + 1 for i in best]
    assert keeper.apply(model) == [i + 1 for i in best]
    for w, a, b in zip(
        model.get_weights(), recorder.weights[best[0]], recorder.weights[best[1]], strict=True
    ):
        np.testing.assert_allclose(w, (a + b) / 2, rtol=1e-6)
    single = KeepBest(2, monitor, average=False)
    single.kept = keeper.kept
    single.apply(model)
    for w, a in zip(model.get_weights(), recorder.weights[best[0]], strict=True):
        np.testing.assert_array_equal(w, a)


def test_a_keep_best_run_says_which_epochs_it_kept():
    lines = []
    recipe = validate(tiny_recipe(train={"epochs": 3, "keep_best": {"k": 2, "monitor": "val_loss"}}), "t")
    result = run(recipe, echo=lines.append)
    kept = next(line for line in lines if line.startswith("keep_best:"))
    assert "mean of epochs" in kept and "val_loss" in kept
    assert result.test_accuracy is not None


# ----------------------------------------------------------------------------- rules


def test_the_knobs_are_validated_where_they_do_not_apply():
    problems = _problems(tiny_recipe(data={"batch_size": "full"}, train={"accumulate": 4}))
    assert "one batch" in problems["train.accumulate"]
    problems = _problems(tiny_recipe(data={"validation_split": 0.0}, train={"keep_best": {"k": 2}}))
    assert "validation_split" in problems["train.keep_best"]
    problems = _problems(tiny_recipe(train={"keep_best": {"monitor": "val_psnr"}}))
    assert "logs no 'val_psnr'" in problems["train.keep_best.monitor"]
    problems = _problems(_with_model({"name": "lenet5", "drop_path": 0.1}))
    assert "drop_path" in " ".join(problems)
    problems = _problems(_with_model({"name": "resnet20", "drop_path": 1.5}))
    assert "drop rate" in problems["model.drop_path"]
    problems = _problems(_with_model({"name": "resnet20", "shortcut": "none", "drop_path": 0.1}))
    assert "plain net" in problems["model.drop_path"]
    gan = {"task": {"name": "generate"}, "model": {"name": "dcgan"}, "optimizer": {"ema_momentum": 0.99}}
    problems = _problems(_with_model(gan.pop("model"), **gan, train={"accumulate": 2}))
    assert "not available for task 'generate'" in problems["optimizer.ema_momentum"]
    assert "not available for task 'generate'" in problems["train.accumulate"]
    recipe = validate(
        _with_model(
            {"name": "resnet20", "drop_path": 0.1},
            optimizer={"ema_momentum": 0.999},
            train={"accumulate": 2, "keep_best": {"k": 3, "monitor": "val_accuracy", "average": True}},
        ),
        "t",
    )
    assert recipe.train.accumulate == 2 and recipe.train.keep_best.k == 3
    assert recipe.flatten()["optimizer.ema_momentum"] == "0.999"
