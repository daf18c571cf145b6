"""Recipe loading: every shipped recipe validates, extends/overrides merge as documented."""

from __future__ import annotations

import pytest
import yaml
from conftest import RECIPES

from kerasnets.recipe import Recipe, load_recipe
from kerasnets.recipe_files import deep_merge, flatten, parse_override, resolve_extends


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_every_shipped_recipe_validates(path):
    params = load_recipe(path).flatten()
    own = yaml.safe_load(path.read_text(encoding="utf-8"))
    own = flatten({key: value for key, value in own.items() if key != "extends"})
    assert own  # the file sets something
    assert {k: (v, params.get(k)) for k, v in own.items() if params.get(k) != v} == {}  # its keys win
    expected = flatten(deep_merge(Recipe().model_dump(mode="json"), resolve_extends(path)))
    assert {k: params.get(k) for k in expected} == expected  # its fragments, then the defaults
    # beyond them only the defaults of optional sections the file opens (transfer.fine_tune)
    opened = {key.rsplit(".", 1)[0] + "." for key in own}
    assert all(any(k.startswith(o) for o in opened) for k in set(params) - set(expected))


def test_defaults_are_the_embedded_digits_lenet5():
    recipe = Recipe()
    assert (recipe.data.dataset, recipe.model.name, recipe.optimizer.name) == ("digits", "lenet5", "adam")


def test_extends_merges_fragments_in_order_and_the_recipe_wins(write_recipe):
    write_recipe("optimizer: {name: sgd, learning_rate: 0.1, momentum: 0.9}\n", "fragments/a.yaml")
    write_recipe("optimizer: {nesterov: true, learning_rate: 0.2}\ntrain: {epochs: 3}\n", "fragments/b.yaml")
    path = write_recipe("extends: [fragments/a.yaml, fragments/b.yaml]\ntrain: {epochs: 7}\n")
    recipe = load_recipe(path)
    assert recipe.optimizer.name == "sgd"
    assert recipe.optimizer.momentum == 0.9  # from a, kept by the deep merge
    assert recipe.optimizer.learning_rate == 0.2  # b overrides a
    assert recipe.optimizer.nesterov is True
    assert recipe.train.epochs == 7  # the recipe overrides its fragments


def test_shipped_fragment_is_usable(write_recipe):
    from conftest import ROOT

    fragment = ROOT / "recipes" / "fragments" / "optim" / "sgd_nesterov.yaml"
    path = write_recipe(f"extends: {fragment}\n")
    recipe = load_recipe(path)
    assert (recipe.optimizer.name, recipe.optimizer.nesterov) == ("sgd", True)


def test_overrides_win_and_are_typed_by_the_schema(write_recipe):
    path = write_recipe("optimizer: {name: sgd, learning_rate: 0.1}\n")
    recipe = load_recipe(
        path,
        [
            "optimizer.learning_rate=0.05",
            "train.epochs=3",
            "optimizer.nesterov=true",
            "data.image_size=[40, 40]",
            "tracking.experiment=123",
        ],
    )
    assert recipe.optimizer.learning_rate == 0.05
    assert recipe.train.epochs == 3
    assert recipe.optimizer.nesterov is True
    assert recipe.data.image_size == (40, 40)
    assert recipe.tracking.experiment == "123"  # a string field keeps a numeric-looking value as text


def test_model_options_are_kept_and_passed_through(write_recipe):
    path = write_recipe("model: {name: lenet5, activation: relu, pooling: max}\n")
    assert load_recipe(path).model.options == {"activation": "relu", "pooling": "max"}


def test_flatten_gives_dotted_params():
    flat = flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"})
    assert flat == {"a.b": "1", "a.c.d": "[1, 2]", "e": "x"}
    params = Recipe().flatten()
    assert params["optimizer.learning_rate"] == "0.001"
    assert params["model.name"] == "lenet5"


def test_parse_override_keeps_strings_and_parses_numbers():
    assert parse_override("model.name=resnet18") == (["model", "name"], "resnet18")
    assert parse_override("a.b=1e-3") == (["a", "b"], 1e-3)


def test_resolved_recipe_round_trips_through_yaml(write_recipe):
    recipe = load_recipe(RECIPES[0])
    again = write_recipe(recipe.to_yaml(), "again.yaml")
    assert load_recipe(again) == recipe


def test_json_schema_lists_every_section():
    from kerasnets.recipe import json_schema

    schema = json_schema()
    assert {
        "data",
        "model",
        "augment",
        "regularization",
        "init",
        "optimizer",
        "schedule",
        "train",
        "tracking",
    } <= set(schema["properties"])


@pytest.mark.slow
@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_every_recipe_runs_one_step_on_synthetic_data(path, tmp_path):
    """The recipe's model, optimiser, schedule and augmentation, on a few synthetic images of
    the recipe's input size; starting weights come from locally made files (random
    keras.applications weights, a saved model of the same builder)."""
    from kerasnets.data.datasets import DATASETS
    from kerasnets.recipe import validate
    from kerasnets.train.loop import run

    recipe = load_recipe(path)
    if recipe.task.name != "classify":
        pytest.skip("non-classification recipes have their own tests")
    native = DATASETS.meta(recipe.data.dataset).get("shape") or (224, 224, 3)
    height, width = recipe.data.image_size or native[:2]
    channels = recipe.data.channels or native[2]
    data = recipe.model_dump(mode="json")
    data["data"].update(
        dataset="synthetic",
        dir=None,
        limit=None,
        batch_size=4,
        validation_split=0.25,
        # one sigmoid unit (model.num_classes 1) learns two classes
        options={
            "num_samples": 16,
            "num_classes": 2 if recipe.model.num_classes == 1 else 10,
            "shape": [height, width, channels],
        },
    )
    data["train"].update(epochs=1, verbose=0, steps_per_execution=1)
    data["tracking"]["enabled"] = False
    data["eval"]["tta"] = "none"
    if recipe.init.weights:
        import keras

        from kerasnets.weights.imagenet_table import IMAGENET_WEIGHTS

        source = getattr(keras.applications, IMAGENET_WEIGHTS[recipe.model.name].application)
        source(weights=None, include_top=False).save_weights(tmp_path / "imagenet.weights.h5")
        data["init"]["weights"] = str(tmp_path / "imagenet.weights.h5")
    if recipe.init.from_run:
        from kerasnets.models import build

        source = build(recipe.model.name, (height, width, channels), 10, **recipe.model.options)
        source.save(tmp_path / "source.keras")
        data["init"]["from_run"] = str(tmp_path / "source.keras")
    epochs = 1
    if data["transfer"]["fine_tune"]:
        data["transfer"]["fine_tune"]["epochs"] = 1
        epochs = 2
    result = run(validate(data, str(path)), echo=lambda _: None)
    headline = "test_binary_accuracy" if recipe.model.head_activation == "sigmoid" else "test_accuracy"
    assert result.metrics.get(headline) is not None and len(result.history["loss"]) == epochs
