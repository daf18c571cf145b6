"""Task ``seq2seq``: the generated sequence data sets (digit strings reversed and added,
counting, ECG-like signals), one-to-many and encoder-decoder models against the hand
formulas, the per-step 1-D ResNet, whole-sequence accuracy, the validation rules and a short
run that learns to reverse digit strings."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import ROOT

from kerasnets.data.datasets import DATASETS
from kerasnets.data.sequences import make_counting, make_digit_strings
from kerasnets.errors import RecipeError
from kerasnets.models import MODELS, build
from kerasnets.models.sequence import RECURRENT
from kerasnets.recipe import validate
from kerasnets.rules import sequence_steps
from kerasnets.train.metrics import SequenceAccuracy, sequence_accuracy
from kerasnets.train.tasks import TASKS

#: Weight blocks per recurrent layer and bias vectors per block (GRU: reset_after=True).
GATES = {"simple_rnn": (1, 1), "lstm": (4, 1), "gru": (3, 2)}
STEPPED = [name for name in DATASETS.names() if DATASETS.meta(name).get("targets") == "steps"]
SEQ2SEQ_RECIPES = sorted(
    path for path in (ROOT / "recipes").glob("*.yaml") if "name: seq2seq" in path.read_text(encoding="utf-8")
)


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session(free_memory=False)


def _layer(cell: str, units: int, features: int) -> int:
    """g * (h*(h+d) + b*h): input and recurrent kernels and b bias vectors for each of g blocks."""
    gates, biases = GATES[cell]
    return gates * (units * (units + features) + biases * units)


def _recipe(**sections) -> dict:
    recipe = {
        "task": {"name": "seq2seq"},
        "data": {
            "dataset": "digit_strings",
            "layout": "rows",
            "normalize": "scale",
            "options": {"length": 4},
        },
        "model": {"name": "lstm_seq2seq", "units": 16},
        "train": {"epochs": 1, "verbose": 0},
        "tracking": {"enabled": False},
    }
    for key, value in sections.items():
        replace = key not in recipe or (key == "model" and "name" in value)  # another model's options
        recipe[key] = value if replace else {**recipe[key], **value}
    return recipe


def _problems(recipe: dict) -> str:
    with pytest.raises(RecipeError) as info:
        validate(recipe, "bad.yaml")
    return str(info.value)


# ----------------------------------------------------------------------------- data


def test_the_stepped_data_sets():
    assert STEPPED == ["counting", "digit_strings", "ecg_like"]


@pytest.mark.parametrize("name", STEPPED)
def test_generators_are_deterministic_and_match_their_declared_steps(name):
    small = {"num_samples": 40}
    first, again = (DATASETS.get(name)([], **small) for _ in range(2))
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_train, again.y_train)
    other = DATASETS.get(name)([], seed=1, **small)
    assert not np.array_equal(first.y_train, other.y_train)
    data = validate(_recipe(data={"dataset": name, "options": small}), "t").data
    t_in, features, t_out = sequence_steps(data)
    assert first.x_train.shape == (40, t_in, features, 1) and first.x_train.dtype == np.uint8
    assert first.y_train.shape == (40, t_out) and first.y_train.dtype == np.int32
    assert first.y_train.max() < len(first.class_names) == DATASETS.meta(name)["classes"]


def test_reversed_targets_are_the_inputs_back_to_front():
    tokens, images, targets = make_digit_strings(50, 6, "reverse", seed=3)
    np.testing.assert_array_equal(np.argmax(images[..., 0], axis=-1), tokens)
    assert set(np.unique(images)) == {0, 255}
    np.testing.assert_array_equal(targets, tokens[:, ::-1])


def test_addition_targets_are_the_sums():
    tokens, images, targets = make_digit_strings(200, 3, "add", seed=4)
    assert images.shape == (200, 7, 11, 1)
    np.testing.assert_array_equal(np.argmax(images[..., 0], axis=-1), tokens)
    text = ["".join("0123456789+"[t] for t in row) for row in tokens]
    sums = [int(a) + int(b) for a, b in (line.split("+") for line in text)]
    assert [int("".join(map(str, row))) for row in targets] == sums
    assert all(len(line) == 7 and line[3] == "+" for line in text)
    assert targets.shape == (200, 4)  # 999 + 999 = 1998 needs the fourth digit


def test_counting_targets_count_from_the_start_by_the_step():
    start, step, targets = make_counting(30, 5, seed=2)
    for s, k, row in zip(start, step, targets, strict=True):
        assert list(row) == [(s + t * k) % 10 for t in range(5)]
    raw = DATASETS.get("counting")([], num_samples=30, length=5, seed=2)
    vector = raw.x_train[:, 0, :, 0]  # one step of 20 features
    np.testing.assert_array_equal(np.argmax(vector[:, :10], -1), start)
    np.testing.assert_array_equal(np.argmax(vector[:, 10:], -1), step)


def test_ecg_labels_put_every_r_peak_in_a_qrs_complex():
    raw = DATASETS.get("ecg_like")([], num_samples=20, length=300, noise=0.0, ectopic=0.0)
    signals, labels = raw.x_train[:, :, 0, 0].astype(int), raw.y_train
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    # the tallest sample of each record is an R peak: labelled QRS
    assert np.all(labels[np.arange(20), np.argmax(signals, axis=1)] == 2)
    # a wave label never covers the flat stretch in the middle of a baseline run
    assert 0.2 < np.mean(labels == 0) < 0.6


def test_bad_generator_options_are_data_errors():
    from kerasnets.errors import DataError

    with pytest.raises(DataError, match="length from 1 to 9"):
        DATASETS.get("digit_strings")([], length=12)
    with pytest.raises(DataError, match="noise from 0 to 0.5 mV"):
        DATASETS.get("ecg_like")([], noise=-1.0)


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("cell", list(RECURRENT))
def test_seq2seq_shapes_and_counts_by_hand(cell):
    h, classes = 16, 10
    model = build(f"{cell}_seq2seq", (7, 11), classes, units=h, output_steps=4)
    probabilities = keras.ops.convert_to_numpy(model(np.zeros((2, 7, 11), "float32")))
    assert probabilities.shape == (2, 4, classes)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    # the encoder reads 11 features, the decoder the 16-wide context; one softmax for all steps
    assert model.get_layer("encoder1").count_params() == _layer(cell, h, 11)
    assert model.count_params() == _layer(cell, h, 11) + _layer(cell, h, h) + h * classes + classes
    deep = build(f"{cell}_seq2seq", (7, 11), classes, units=h, layers=2)
    assert deep.output.shape == (None, 7, classes)  # output_steps defaults to the input's
    assert deep.count_params() == _layer(cell, h, 11) + 3 * _layer(cell, h, h) + h * classes + classes


@pytest.mark.parametrize("cell", list(RECURRENT))
def test_one_to_many_shapes_and_counts_by_hand(cell):
    h, classes = 16, 10
    model = build(f"{cell}_one_to_many", (1, 20), classes, units=h, output_steps=8)
    assert keras.ops.convert_to_numpy(model(np.zeros((2, 1, 20), "float32"))).shape == (2, 8, classes)
    assert model.count_params() == _layer(cell, h, 20) + h * classes + classes
    # a longer input is one vector of T*F features
    assert build(f"{cell}_one_to_many", (3, 4), classes, units=h, output_steps=2).count_params() == (
        _layer(cell, h, 12) + h * classes + classes
    )


def test_registered_reference_counts_equal_the_hand_formulas():
    h, classes = 128, 10
    for cell in RECURRENT:
        head = h * classes + classes
        assert MODELS.meta(f"{cell}_seq2seq")["params"] == _layer(cell, h, 10) + _layer(cell, h, h) + head
        assert MODELS.meta(f"{cell}_one_to_many")["params"] == _layer(cell, h, 20) + head


def test_the_decoder_starts_from_the_encoder_state():
    model = build("lstm_seq2seq", (5, 10), 10, units=8, output_steps=3)
    encoder, decoder = model.get_layer("encoder1"), model.get_layer("decoder1")
    # the decoder was called on the context and the encoder's two LSTM states (h, c)
    (node,) = decoder._inbound_nodes
    sources = {t._keras_history.operation.name for t in node.input_tensors}
    assert sources == {"context", encoder.name}
    assert len(node.input_tensors) == 3


def test_per_step_conv1d_resnet_keeps_every_time_step():
    model = build("conv1d_resnet", (50, 1), 4, filters=(4, 8, 16), depths=(1, 1, 1), many_to_many=True)
    shapes = [tuple(model.get_layer(f"stage{s}_block1_out").output.shape[1:]) for s in (1, 2, 3)]
    assert shapes == [(50, 4), (50, 8), (50, 16)]
    probabilities = keras.ops.convert_to_numpy(model(np.zeros((2, 50, 1), "float32")))
    assert probabilities.shape == (2, 50, 4)
    one = build("conv1d_resnet", (50, 1), 4, filters=(4, 8, 16), depths=(1, 1, 1))
    assert model.count_params() == one.count_params()  # strides change no weights


def test_the_task_fills_output_steps_from_the_data():
    from kerasnets.data.pipeline import load_splits

    recipe = validate(_recipe(data={"options": {"length": 3, "operation": "add", "num_samples": 60}}), "t")
    splits = load_splits(recipe.data)
    assert TASKS.get("seq2seq")(recipe).model_options(splits) == {"output_steps": 4}
    given = validate(
        _recipe(model={"output_steps": 4}, data={"options": {"length": 3, "operation": "add"}}), "t"
    )
    assert TASKS.get("seq2seq")(given).model_options(splits) == {}
    tagger = validate(_recipe(data={"dataset": "ecg_like"}, model={"name": "gru", "many_to_many": True}), "t")
    assert TASKS.get("seq2seq")(tagger).model_options(splits) == {}


# ----------------------------------------------------------------------------- metrics


def test_sequence_accuracy_against_a_hand_count():
    truth = np.array([[1, 2, 0], [0, 0, 0], [2, 1, 1], [1, 1, 1]])
    predicted = np.array([[1, 2, 0], [0, 1, 0], [2, 1, 1], [1, 1, 2]])  # rows 0 and 2 all right
    probabilities = np.eye(3, dtype="float32")[predicted] * 0.8 + 0.1 / 3
    assert sequence_accuracy(truth, predicted) == 0.5
    metric = SequenceAccuracy()
    metric.update_state(truth[:2], probabilities[:2])
    metric.update_state(truth[2:], probabilities[2:])
    assert float(metric.result()) == pytest.approx(0.5)
    # per-step accuracy, Keras' own, averages steps: 10 of 12 right
    steps = keras.metrics.SparseCategoricalAccuracy()
    steps.update_state(truth, probabilities)
    assert float(steps.result()) == pytest.approx(10 / 12)
    metric.reset_state()
    metric.update_state(truth, probabilities, sample_weight=np.array([1.0, 0.0, 3.0, 0.0]))
    assert float(metric.result()) == pytest.approx(1.0)


def test_step_predictions_figure_draws_tokens_and_signals():
    from kerasnets.plots import step_predictions_figure

    tokens = np.eye(11)[[[1, 2, 10, 3, 4], [5, 6, 10, 7, 8]]]
    figure = step_predictions_figure(
        tokens, np.array([[3, 6], [1, 3]]), np.array([[3, 6], [1, 2]]), list("0123456789")
    )
    assert "1 with a wrong step" in figure._suptitle.get_text()
    signal = np.random.default_rng(0).normal(size=(2, 30, 1))
    labels = np.zeros((2, 30), int)
    step_predictions_figure(signal, labels, labels, ["baseline", "p_wave", "qrs", "t_wave"])


# ----------------------------------------------------------------------------- recipe rules


def test_the_seq2seq_recipes_validate_and_say_what_they_measured():
    assert {p.name for p in SEQ2SEQ_RECIPES} >= {
        "digits_reverse_lstm_seq2seq.yaml",
        "digits_add_gru_seq2seq.yaml",
        "counting_lstm_one_to_many.yaml",
        "ecg_like_conv1d_resnet.yaml",
    }
    for path in SEQ2SEQ_RECIPES:
        from kerasnets.recipe import load_recipe

        load_recipe(path)
        assert "sequence accuracy" in path.read_text(encoding="utf-8")


def test_per_step_data_need_the_seq2seq_task():
    text = _problems(_recipe(task={"name": "sequence"}, model={"name": "lstm"}))
    assert "task.name: data set 'digit_strings' has a class per step (targets (N, 4))" in text
    assert "set task.name to 'seq2seq'" in text
    text = _problems(_recipe(data={"dataset": "digits", "options": {}}))
    assert "data.dataset: task 'seq2seq' learns a class per output step" in text
    assert "Valid: counting, digit_strings, ecg_like" in text


def test_the_model_must_give_a_class_per_target_step():
    text = _problems(_recipe(model={"name": "gru"}))
    assert "model.many_to_many: model 'gru' gives one class per sequence" in text
    text = _problems(
        _recipe(
            data={"options": {"length": 3, "operation": "add"}}, model={"name": "lstm", "many_to_many": True}
        )
    )
    assert "model 'lstm' with many_to_many labels each of the 7 input steps" in text
    assert "has 4 target steps" in text and "lstm_seq2seq" in text
    text = _problems(_recipe(model={"output_steps": 3}))
    assert "model.output_steps: data set 'digit_strings' has 4 target steps" in text
    assert "model 'lenet5' does not serve task 'seq2seq'" in _problems(_recipe(model={"name": "lenet5"}))
    # a per-step tagger on targets as long as its input is fine
    validate(
        _recipe(data={"dataset": "ecg_like"}, model={"name": "conv1d_resnet", "many_to_many": True}), "t"
    )
    validate(_recipe(model={"name": "lstm", "many_to_many": True, "bidirectional": True}), "t")


def test_sequences_are_read_as_rows_unresized():
    assert "set data.layout to 'rows' for task 'seq2seq'" in _problems(_recipe(data={"layout": "image"}))
    text = _problems(_recipe(data={"image_size": [8, 8], "channels": 3}))
    assert "data.image_size: generated sequences are read as they are" in text
    assert "data.channels" in text
    assert "augment: not available for task 'seq2seq'" in _problems(_recipe(augment=[{"HorizontalFlip": {}}]))


# ----------------------------------------------------------------------------- training


def test_a_short_run_learns_to_reverse_digit_strings():
    from kerasnets.train.loop import run

    recipe = validate(
        _recipe(
            # 2,000 different strings of the 10,000: no test string is seen in training
            data={"options": {"length": 4, "num_samples": 2000}, "batch_size": 32, "validation_split": 0.0},
            model={"units": 48},
            optimizer={"name": "adam", "learning_rate": 0.01},
            train={"epochs": 6, "verbose": 0},
        ),
        "t",
    )
    result = run(recipe, echo=lambda _: None)
    # chance: a tenth of the steps, 1 in 10,000 sequences (measured: 94% and 80%)
    assert result.metrics["test_step_accuracy"] > 0.6
    assert result.metrics["test_sequence_accuracy"] > 0.3
    assert result.model.output.shape == (None, 4, 10)
    assert set(result.history) >= {"loss", "step_accuracy", "sequence_accuracy"}


def test_a_tracked_run_logs_the_step_metrics_and_predictions_not_an_image_preview(tracking):
    from mlflow import MlflowClient

    from kerasnets.train.loop import run

    recipe = validate(
        _recipe(
            data={"options": {"length": 3, "num_samples": 200}, "batch_size": 32},
            train={"epochs": 2, "verbose": 0},
            tracking={"enabled": True, "experiment": "s2s", "log_model": False},
        ),
        "t",
    )
    result = run(recipe, echo=lambda _: None)
    client = MlflowClient(tracking)
    logged = client.get_run(result.run_id).data.metrics
    assert logged["test_sequence_accuracy"] == result.metrics["test_sequence_accuracy"]
    assert len(client.get_metric_history(result.run_id, "val_sequence_accuracy")) == 2
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"step_predictions.png", "learning_curves.png"} <= artifacts
    assert "augmentation_preview.png" not in artifacts  # one-hot tokens are no images to look at
