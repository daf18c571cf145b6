"""Bad recipes: every problem reported at once, verbatim texts, file and dotted key named."""

from __future__ import annotations

import pytest

from kerasnets.errors import RecipeError
from kerasnets.recipe import load_recipe


def problems(path, overrides=()) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, list(overrides))
    text = str(info.value)
    assert text.splitlines()[0].startswith(str(path))
    return [line.strip() for line in text.splitlines()[1:]]


def test_all_problems_reported_at_once_with_hints(write_recipe):
    path = write_recipe(
        "optimiser: {name: sgd}\n"
        "model: {name: lenet6}\n"
        "optimizer: {name: sgd, momentum: high}\n"
        "data: {dataset: mnsit}\n"
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert str(info.value) == (
        f"{path}: 4 problems\n"
        "  data.dataset: unknown dataset 'mnsit'. Did you mean 'mnist'?\n"
        "  model.name: unknown model 'lenet6'. Did you mean 'lenet5'? (`kerasnets models`)\n"
        "  optimizer.momentum: expected a number, got 'high'\n"
        "  optimiser: unknown key 'optimiser' at top level. Did you mean 'optimizer'?"
    )


def test_unknown_nested_key_names_its_section(write_recipe):
    path = write_recipe("train: {epocs: 3}\n")
    assert problems(path) == ["train.epocs: unknown key 'epocs' in train. Did you mean 'epochs'?"]


def test_unknown_optimizer_and_schedule(write_recipe):
    path = write_recipe("optimizer: {name: adamx}\nschedule: {name: cosin}\n")
    assert problems(path) == [
        "optimizer.name: unknown optimizer 'adamx'. Did you mean 'adam'?",
        "schedule.name: unknown schedule 'cosin'. Did you mean 'cosine'?",
    ]


def test_option_of_another_optimizer_is_rejected(write_recipe):
    path = write_recipe("optimizer: {name: adam, momentum: 0.9}\n")
    assert problems(path) == [
        "optimizer.momentum: not an option of optimizer 'adam'. Valid: beta_1, beta_2, epsilon, amsgrad, "
        "weight_decay, clipnorm, clipvalue, global_clipnorm, ema_momentum"
    ]


def test_out_of_range_and_wrong_types(write_recipe):
    path = write_recipe("train: {epochs: 0}\ndata: {batch_size: -4, validation_split: 1.5}\n")
    assert problems(path) == [
        "data.validation_split: expected a number less than 1.0, got 1.5",
        "data.batch_size: expected an integer from 1 to 10,000,000 or 'full'",
        "train.epochs: expected a number of at least 1, got 0",
    ]


def test_model_options_checked_against_the_builder(write_recipe):
    path = write_recipe("model: {name: lenet5, activaton: relu, pooling: median}\n")
    assert problems(path) == [
        "model.activaton: unknown option of 'lenet5'. Did you mean 'activation'?",
        "model.pooling: expected 'max', 'avg', 'l2', 'lp' or 'cross_channel_max', got 'median'",
    ]


def test_unknown_augmentation_transform(write_recipe):
    path = write_recipe("augment:\n  - HorizontalFlip: {p: 0.5}\n  - HorizontallFlip: {p: 0.5}\n")
    assert problems(path) == [
        "augment[1]: unknown albumentations transform 'HorizontallFlip'. Did you mean 'HorizontalFlip'?"
    ]


def test_missing_file():
    assert problems("no/such/recipe.yaml") == ["(top level): file not found"]


def test_broken_yaml(write_recipe):
    path = write_recipe("data: {dataset: digits\nmodel: [\n")
    (line,) = problems(path)
    assert line.startswith("(top level): invalid YAML at line ")


def test_python_tags_are_refused(write_recipe):
    path = write_recipe("model: !!python/object/apply:os.system ['echo hacked']\n")
    (line,) = problems(path)
    assert line.startswith("(top level): invalid YAML")


def test_bad_override(write_recipe):
    path = write_recipe("{}\n")
    assert problems(path, ["train.epochs"]) == [
        "--set: expected KEY=VALUE with a dotted key, got 'train.epochs'"
    ]
    assert problems(path, ["train.epochs=many"]) == ["train.epochs: expected an integer, got 'many'"]


def test_gd_needs_full_batches(write_recipe):
    path = write_recipe("optimizer: {name: gd, learning_rate: 0.1}\n")
    assert problems(path) == [
        "data.batch_size: optimizer 'gd' is full-batch gradient descent: set data.batch_size to 'full'"
    ]


def test_missing_fragment(write_recipe):
    path = write_recipe("extends: [nope.yaml]\n")
    (line,) = problems(path)
    assert line.startswith("extends: fragment file not found: ")
