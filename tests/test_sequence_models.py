"""Sequence models: shapes many-to-one and many-to-many, parameter counts against the hand
formulas, a memory task an LSTM solves and a last-step dense layer cannot, and the ``sequence``
task end to end (rows, pixels, many-to-many targets)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import RECIPES, tiny_recipe

from kerasnets.data.inputs import make_pipelines
from kerasnets.data.pipeline import load_splits
from kerasnets.errors import RecipeError
from kerasnets.models import build
from kerasnets.models.sequence import RECURRENT
from kerasnets.recipe import load_recipe, validate
from kerasnets.train.loop import run
from kerasnets.train.tasks import TASKS

T, F, CLASSES = 12, 6, 3
#: Weight blocks per recurrent layer and bias vectors per block (GRU: reset_after=True).
GATES = {"simple_rnn": (1, 1), "lstm": (4, 1), "gru": (3, 2)}


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session(free_memory=False)


def _rand(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=shape).astype("float32")


def _layer_count(cell: str, units: int, features: int) -> int:
    """g * (h*(h+d) + b*h): input and recurrent kernels and b bias vectors for each of g blocks."""
    gates, biases = GATES[cell]
    return gates * (units * (units + features) + biases * units)


def test_the_gate_table_covers_every_recurrent_builder():
    assert set(GATES) == set(RECURRENT)


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("many_to_many", [False, True], ids=["many_to_one", "many_to_many"])
@pytest.mark.parametrize("cell", list(RECURRENT))
def test_recurrent_output_shapes(cell, many_to_many):
    model = build(cell, (T, F), CLASSES, units=8, many_to_many=many_to_many)
    expected = (2, T, CLASSES) if many_to_many else (2, CLASSES)
    probabilities = keras.ops.convert_to_numpy(model(_rand(2, T, F)))
    assert probabilities.shape == expected
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    assert isinstance(model.get_layer(f"{cell}1"), RECURRENT[cell][0])


def test_stacked_bidirectional_layers_hand_on_whole_sequences():
    model = build("gru", (T, F), CLASSES, units=8, layers=3, bidirectional=True, dropout=0.2)
    shapes = [tuple(model.get_layer(f"gru{i}_bidirectional").output.shape[1:]) for i in (1, 2, 3)]
    assert shapes == [(T, 16), (T, 16), (16,)]  # forward and backward states concatenated
    assert {"gru1_dropout", "gru3_dropout"} <= {layer.name for layer in model.layers}
    many = build("gru", (T, F), CLASSES, units=8, layers=2, bidirectional=True, many_to_many=True)
    assert many.output.shape == (None, T, CLASSES)


def test_conv1d_resnet_stages_halve_time():
    model = build("conv1d_resnet", (T, F), CLASSES, filters=(4, 8, 16), depths=(1, 1, 1))
    shapes = [tuple(model.get_layer(f"stage{s}_block1_out").output.shape[1:]) for s in (1, 2, 3)]
    assert shapes == [(12, 4), (6, 8), (3, 16)]
    probabilities = keras.ops.convert_to_numpy(model(_rand(2, T, F)))
    assert probabilities.shape == (2, CLASSES)
    se = build("conv1d_resnet", (T, F), CLASSES, filters=(4, 8), depths=(1, 1), attention="se")
    assert "stage2_block1_se_scale" in {layer.name for layer in se.layers}
    v2 = build("conv1d_resnet", (T, F), CLASSES, filters=(4, 8), depths=(1, 1), preact=True)
    assert "post_bn" in {layer.name for layer in v2.layers}


def test_sequence_builders_reject_images_and_mismatched_stages():
    with pytest.raises(ValueError, match="data.layout 'rows' or 'pixels'"):
        build("lstm", (28, 28, 1), 10)
    with pytest.raises(ValueError, match="data.layout"):
        build("conv1d_resnet", (28, 28, 1), 10)
    with pytest.raises(ValueError, match="one entry per stage"):
        build("conv1d_resnet", (28, 28), 10, filters=(8, 16), depths=(1,))


def test_sequence_models_serve_only_the_sequence_task():
    recipe = tiny_recipe()
    recipe["model"] = {"name": "lstm"}
    with pytest.raises(RecipeError, match="model 'lstm' does not serve task 'classify'"):
        validate(recipe, "t")


# ----------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("cell", list(RECURRENT))
def test_recurrent_counts_equal_the_hand_formulas(cell):
    h = 8
    one = build(cell, (T, F), CLASSES, units=h)
    assert one.get_layer(f"{cell}1").count_params() == _layer_count(cell, h, F)
    assert one.count_params() == _layer_count(cell, h, F) + h * CLASSES + CLASSES
    # the per-step head is the same dense layer applied at every step: no extra weights
    assert build(cell, (T, F), CLASSES, units=h, many_to_many=True).count_params() == one.count_params()
    # two layers, both directions: layer 2 reads 2h features, the head 2h
    deep = build(cell, (T, F), CLASSES, units=h, layers=2, bidirectional=True)
    expected = 2 * _layer_count(cell, h, F) + 2 * _layer_count(cell, h, 2 * h) + 2 * h * CLASSES + CLASSES
    assert deep.count_params() == expected


def test_textbook_counts_for_28_rows_of_28_pixels():
    h, d = 128, 28
    assert (
        build("simple_rnn", (d, d), 10).get_layer("simple_rnn1").count_params() == h * (h + d) + h == 20_096
    )
    assert build("lstm", (d, d), 10).get_layer("lstm1").count_params() == 4 * 20_096
    assert build("gru", (d, d), 10).get_layer("gru1").count_params() == 3 * (20_096 + h)


def test_conv1d_resnet_count_by_hand():
    model = build("conv1d_resnet", (T, F), CLASSES, filters=(4, 8), depths=(1, 1), kernel_size=3)
    stem = 3 * F * 4 + 4 * 4  # kernel 3, no bias; BN keeps 4 numbers per channel
    stage1 = 2 * (3 * 4 * 4 + 4 * 4)
    stage2 = (3 * 4 * 8 + 4 * 8) + (3 * 8 * 8 + 4 * 8) + (4 * 8 + 4 * 8)  # + 1x1 projection
    head = 8 * CLASSES + CLASSES
    assert model.count_params() == stem + stage1 + stage2 + head == 659


# ----------------------------------------------------------------------------- behaviour


def _first_symbol_data(rng, count: int, steps: int = 12, symbols: int = 4):
    """Random one-hot symbols; the label is the first one, so the last step says nothing."""
    sequence = rng.integers(0, symbols, (count, steps))
    return np.eye(symbols, dtype="float32")[sequence], sequence[:, 0].astype("int32")


def _fit_and_score(model, train, test, epochs: int = 6) -> float:
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(*train, batch_size=64, epochs=epochs, verbose=0)
    return float(model.evaluate(*test, verbose=0)[1])


def test_lstm_remembers_what_a_last_step_dense_layer_cannot_see():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    train, test = _first_symbol_data(rng, 2048), _first_symbol_data(rng, 512)
    lstm = _fit_and_score(build("lstm", (12, 4), 4, units=16), train, test)
    inputs = keras.Input((12, 4))
    last_step = keras.layers.Flatten()(keras.layers.Cropping1D((11, 0))(inputs))
    hidden = keras.layers.Dense(16, activation="relu")(last_step)
    dense = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(hidden))
    last = _fit_and_score(dense, train, test)
    assert lstm > 0.95
    assert last < 0.35  # chance is 0.25


def _sequence_recipe(model: dict, layout: str = "rows", **sections) -> dict:
    recipe = tiny_recipe(task={"name": "sequence"}, data={"layout": layout}, **sections)
    recipe["model"] = model
    return recipe


def test_lstm_on_rows_through_the_training_loop():
    recipe = validate(_sequence_recipe({"name": "lstm", "units": 16}), "t")
    result = run(recipe, echo=lambda _: None)
    assert result.model.input_shape == (None, 8, 8)  # 8 rows of 8 pixels
    assert result.test_accuracy is not None and result.test_accuracy > 0.4  # 4 classes


def test_pixel_by_pixel_layout_feeds_one_pixel_per_step():
    recipe = validate(
        _sequence_recipe({"name": "gru", "units": 8}, layout="pixels", train={"epochs": 1}), "t"
    )
    result = run(recipe, echo=lambda _: None)
    assert result.model.input_shape == (None, 64, 1)
    assert 0.0 <= result.test_accuracy <= 1.0


@pytest.mark.parametrize("smoothing", [0.0, 0.1], ids=["sparse", "one_hot"])
def test_many_to_many_targets_repeat_the_label_at_every_step(smoothing):
    recipe = validate(
        _sequence_recipe(
            {"name": "gru", "units": 16, "many_to_many": True},
            regularization={"label_smoothing": smoothing},
        ),
        "t",
    )
    task = TASKS.get("sequence")(recipe)
    splits = load_splits(recipe.data)
    inputs, targets = next(iter(make_pipelines(recipe, splits, 32, task).train))
    assert inputs.shape == (32, 8, 8)
    assert targets.shape == ((32, 8, 4) if smoothing else (32, 8, 1))  # the label at each of 8 steps
    targets = targets.numpy()
    np.testing.assert_array_equal(targets, np.repeat(targets[:, :1], 8, axis=1))


def test_many_to_many_model_is_scored_at_its_last_step():
    recipe = validate(_sequence_recipe({"name": "gru", "units": 16, "many_to_many": True}), "t")
    result = run(recipe, echo=lambda _: None)
    assert result.model.output_shape == (None, 8, 4)
    assert set(result.metrics) >= {"test_accuracy", "test_step_accuracy", "test_loss"}
    assert result.test_accuracy > 0.4


# ----------------------------------------------------------------------------- recipes

SEQUENCE_RECIPES = [p for p in RECIPES if load_recipe(p).task.name == "sequence"]


def test_the_sequence_recipes_exist():
    assert {p.name for p in SEQUENCE_RECIPES} >= {
        "mnist_rows_lstm.yaml",
        "mnist_rows_gru.yaml",
        "mnist_rows_conv1d.yaml",
    }


@pytest.mark.slow
@pytest.mark.parametrize("path", SEQUENCE_RECIPES, ids=[p.name for p in SEQUENCE_RECIPES])
def test_sequence_recipe_runs_one_epoch_on_a_little_real_data(path):
    recipe = load_recipe(path, ["train.epochs=1", "data.limit=512", "tracking.enabled=false"])
    result = run(recipe, echo=lambda _: None)
    assert result.model.input_shape == (None, 28, 28)
    # a smoke test: 4 steps leave BatchNorm's moving statistics far from converged
    assert len(result.history["loss"]) == 1 and 0.0 <= result.test_accuracy <= 1.0
