"""Looking inside a network: every explainer on a tiny LeNet-5 run and on a branched
functional model, plus behaviour checks on hand-made models whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny_recipe

from kerasnets.explain import EXPLAINERS


def _lenet_recipe(**extra):
    recipe = tiny_recipe(
        data={"options": {"num_samples": 96, "num_classes": 3, "shape": [32, 32, 1]}},
        train={"epochs": 1},
        tracking={"enabled": True, "experiment": "explain", "log_model": False},
        **extra,
    )
    recipe["model"] = {"name": "lenet5", "activation": "relu", "pooling": "max"}
    return recipe


@pytest.fixture(scope="module")
def lenet_run(mlflow_store, tmp_path_factory):
    """One LeNet-5 trained for an epoch on synthetic 32x32x1 data, tracked, with the recipe
    asking for saliency maps at the end of training."""
    from kerasnets.recipe import validate
    from kerasnets.train import loop

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
        patch.chdir(tmp_path_factory.mktemp("lenet_run"))
        recipe = validate(_lenet_recipe(explain=["saliency"]), "tiny.yaml")
        return loop.run(recipe, echo=lambda _: None)


@pytest.fixture(scope="module")
def splits():
    from kerasnets.data.pipeline import load_splits
    from kerasnets.recipe import validate

    recipe = validate(
        tiny_recipe(data={"options": {"num_samples": 64, "num_classes": 3, "shape": [16, 16, 3]}}), "t"
    )
    return load_splits(recipe.data)


def _artifacts(uri: str, run_id: str, folder: str) -> list[str]:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    return [
        f.path for d in client.list_artifacts(run_id, folder) for f in client.list_artifacts(run_id, d.path)
    ]


def _png_size(path) -> tuple[int, int]:
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.std() > 0, f"{path} is blank"
    return image.shape[1], image.shape[0]


# ----------------------------------------------------------------------------- end to end


def test_a_recipe_explain_list_logs_pictures_at_the_end_of_training(lenet_run, tracking):
    assert _artifacts(tracking, lenet_run.run_id, "explain") == ["explain/saliency/saliency.png"]


def test_every_method_writes_pictures_and_logs_them_to_the_run(lenet_run, tracking, tmp_path):
    from mlflow import MlflowClient

    from kerasnets.explain.runner import explain_run

    written, where = explain_run(lenet_run.run_id, ["all"], {"images": 2}, tmp_path / "out")
    assert sorted(written) == EXPLAINERS.names()
    logged = _artifacts(tracking, lenet_run.run_id, "explain")
    for method, paths in written.items():
        assert paths, method
        for path in paths:
            assert path.parent == tmp_path / "out" / method
            width, height = _png_size(path)
            assert 200 <= width <= 3000 and 150 <= height <= 3000, (path, width, height)
            assert f"explain/{method}/{path.name}" in logged
    assert where.endswith("/explain")
    assert len(written["feature-maps"]) == 4  # LeNet-5's stages: c1, s2, c3, s4
    assert [p.stem for p in written["filters"]] == ["c1", "c3", "c5"]
    assert MlflowClient(tracking).get_run(lenet_run.run_id).info.status == "FINISHED"


def test_the_lenet_receptive_field_of_c3_is_14_pixels(lenet_run):
    from kerasnets.explain import graph
    from kerasnets.explain.activations import receptive_boxes

    linear = graph.activation_model(graph.linear_model(lenet_run.model), "c3")
    (box,) = receptive_boxes(linear, (32, 32, 1), [(4, 4)])  # 5 + (2-1) + (5-1)*2 = 14, jump 2
    assert box == (8, 22, 8, 22)


def _branched_model(num_classes: int = 3):
    """Two conv branches (ReLU as activation=, Activation and ReLU layers), a residual add,
    a concatenation and a nested functional block."""
    import keras

    inner_in = keras.Input((8, 8, 8))
    inner = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inner_in)
    block = keras.Model(inner_in, keras.layers.ReLU(name="relu")(inner), name="block")

    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    a = keras.layers.Conv2D(4, 1, name="a_conv")(x)
    a = keras.layers.Activation("relu", name="a_relu")(a)
    b = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="b_conv")(x)
    x = keras.layers.Add(name="add")([x, keras.layers.Concatenate(name="concat")([a, b])])
    x = block(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="branched")


def test_every_method_works_on_a_branched_model_with_a_nested_block(splits, tmp_path):
    from kerasnets.explain import graph
    from kerasnets.explain.runner import explain_model

    model = _branched_model()
    assert graph.conv_layers(model) == ["stem", "a_conv", "b_conv", "block/conv"]
    written = explain_model(model, splits, ["all"], tmp_path, {"images": 2}, echo=lambda _: None)
    assert sorted(written) == EXPLAINERS.names()
    nested = explain_model(
        model,
        splits,
        [{"feature-maps": {"layer": "block/relu"}}, {"max-patches": {"layer": "relu"}}],
        tmp_path / "nested",
        echo=lambda _: None,
    )
    assert [p.name for p in nested["feature-maps"]] == ["block__relu.png"]
    assert nested["max-patches"][0].exists()


def test_an_mlp_skips_the_convolution_methods_under_all_and_refuses_them_by_name(splits, tmp_path):
    from kerasnets.explain import NotApplicable
    from kerasnets.explain.runner import explain_model
    from kerasnets.models import build

    model = build("mlp", splits.input_shape, splits.num_classes, hidden=[8])
    said = []
    written = explain_model(model, splits, ["all"], tmp_path, {"images": 1, "steps": 3}, echo=said.append)
    assert sorted(written) == ["class-model", "guided-backprop", "neighbours", "occlusion", "saliency"]
    assert any("filters: skipped (model 'mlp' has no convolution layers)" in line for line in said)
    with pytest.raises(NotApplicable, match="has no convolution layers"):
        explain_model(model, splits, ["filters"], tmp_path, echo=said.append)


# ----------------------------------------------------------------------------- behaviour


def _top_left_reader():
    """Reads only the top-left 4x4 quarter of an 8x8 image, by construction."""
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Cropping2D(((0, 4), (0, 4)))(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(x))


def test_saliency_of_a_pixel_the_model_ignores_is_zero():
    from kerasnets.explain import graph

    model = _top_left_reader()
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype(np.float32)
    grads = graph.input_gradients(graph.score_model(model), x, np.array([0, 2]))
    assert np.all(grads[:, 4:, :] == 0) and np.all(grads[:, :, 4:] == 0)
    assert np.all(np.abs(grads[:, :4, :4]) > 0)


def test_occluding_the_pixels_the_model_reads_changes_its_output_and_only_those():
    from kerasnets.explain.occlusion import occlusion_map

    model = _top_left_reader()
    image = np.random.default_rng(1).normal(size=(8, 8, 1)).astype(np.float32) + 2

    def predict(batch):
        return np.asarray(model(batch))

    p0 = predict(image[None])[0, 1]
    heat = occlusion_map(predict, image, 1, patch=2, stride=2, fill=0.0)
    assert heat.shape == (8, 8)
    np.testing.assert_allclose(heat[4:, 4:], p0, rtol=1e-6)
    assert np.abs(heat[:4, :4] - p0).max() > 1e-3


def test_guided_relu_passes_only_positive_gradients_where_the_input_was_positive():
    import tensorflow as tf

    from kerasnets.explain.graph import guided_relu

    x = tf.constant([-2.0, -1.0, 1.0, 2.0, 3.0])
    upstream = tf.constant([1.0, -1.0, -1.0, 2.0, 0.5])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = guided_relu(x)
    np.testing.assert_array_equal(y.numpy(), [0, 0, 1, 2, 3])
    np.testing.assert_array_equal(tape.gradient(y, x, output_gradients=upstream).numpy(), [0, 0, 0, 2, 0.5])


@pytest.mark.parametrize("relu", ["activation=", "Activation", "ReLU"])
def test_guided_backprop_never_passes_a_negative_gradient_through_a_relu(relu):
    """Input -> 1x1 conv with weight 1 (+ ReLU three ways) -> dense with mixed-sign weights:
    the guided gradient at the input is the gradient at the ReLU, so never negative."""
    import keras

    from kerasnets.explain import graph

    inputs = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(1, 1, activation="relu" if relu == "activation=" else None, name="conv")
    x = conv(inputs)
    if relu == "Activation":
        x = keras.layers.Activation("relu")(x)
    elif relu == "ReLU":
        x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    dense = keras.layers.Dense(2, activation="softmax", name="predictions")
    model = keras.Model(inputs, dense(x))
    conv.set_weights([np.ones((1, 1, 1, 1)), np.zeros(1)])
    weights = np.random.default_rng(0).normal(size=(16, 2))
    dense.set_weights([weights, np.zeros(2)])
    image = np.random.default_rng(1).normal(size=(3, 4, 4, 1)).astype(np.float32)
    classes = np.array([0, 1, 0])
    plain = graph.input_gradients(graph.score_model(model), image, classes)
    guided = graph.input_gradients(graph.score_model(model, guided=True), image, classes)
    assert plain.min() < 0  # the test has negative gradients to block
    assert guided.min() >= 0
    np.testing.assert_allclose(guided, plain * (image > 0) * (plain > 0), atol=1e-7)


def test_class_model_ascent_raises_the_class_score(lenet_run):
    import tensorflow as tf

    from kerasnets.explain import graph
    from kerasnets.explain.gradients import ascend

    scores = graph.score_model(lenet_run.model)
    targets = tf.constant([0, 1, 2])

    def objective(x):
        return tf.gather(scores(x), targets, axis=1, batch_dims=1)

    start = np.random.default_rng(0).normal(0, 0.1, size=(3, 32, 32, 1)).astype(np.float32)
    _, before, after = ascend(objective, start, steps=60, learning_rate=0.05, l2=0.0, blur=0.0)
    assert np.all(after > before + 0.1), (before, after)
    _, before, after = ascend(objective, start, steps=30, learning_rate=0.05, l2=0.005, blur=0.7)
    assert np.all(after > before), (before, after)  # regularised: slower, still upwards


# ----------------------------------------------------------------------------- errors


def test_cli_unknown_run_id_and_method_exit_2_with_a_clear_message(lenet_run, tracking, capsys):
    from kerasnets.cli import main

    assert main(["explain", "0123456789abcdef", "--method", "saliency"]) == 2
    assert "no run '0123456789abcdef' in the tracking store" in capsys.readouterr().err
    assert main(["explain", lenet_run.run_id, "--method", "salency"]) == 2
    assert "unknown explain method 'salency'. Did you mean 'saliency'?" in capsys.readouterr().err
    assert main(["explain", lenet_run.run_id, "--method", "saliency", "--patch", "3"]) == 2
    assert "--patch applies to occlusion, not to saliency" in capsys.readouterr().err
    assert main(["explain", lenet_run.run_id, "--method", "filters", "--layer", "c9"]) == 2
    assert "--layer: unknown layer 'c9'. Valid: image, c1, s2, c3, s4, c5," in capsys.readouterr().err


def test_recipe_explain_lists_are_checked_against_the_registry():
    from kerasnets.errors import RecipeError
    from kerasnets.recipe import validate

    with pytest.raises(RecipeError) as info:
        validate(
            tiny_recipe(explain=["salency", {"occlusion": {"pach": 3}}, {"deepdream": {"octaves": 0}}]),
            "r.yaml",
        )
    assert info.value.render().splitlines()[1:] == [
        "  explain[0]: unknown explain method 'salency'. Did you mean 'saliency'?"
        " (`kerasnets explain --help`)",
        "  explain[1].occlusion.pach: not an option of explain method 'occlusion'. Did you mean 'patch'?",
        "  explain[2].deepdream.octaves: expected a number of at least 1, got 0",
    ]
    assert validate(tiny_recipe(explain=["all", {"occlusion": {"patch": 3, "class": 1}}]), "r.yaml").explain
