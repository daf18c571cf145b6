"""The Foundation's promised accuracies, on the real data (slow: minutes on 2 cores)."""

from __future__ import annotations

import pytest
from conftest import ROOT, SHARED_DATA

from kerasnets.recipe import load_recipe
from kerasnets.train.loop import run

pytestmark = pytest.mark.slow


def test_digits_lenet5_recipe_reaches_97_percent():
    recipe = load_recipe(
        ROOT / "recipes" / "digits_lenet5.yaml", ["tracking.enabled=false", "train.verbose=0"]
    )
    assert run(recipe, echo=lambda _: None).test_accuracy >= 0.97


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="shared MNIST copy not present")
def test_mnist_lenet5_recipe_reaches_99_percent():
    recipe = load_recipe(
        ROOT / "recipes" / "mnist_lenet5.yaml", ["tracking.enabled=false", "train.verbose=0"]
    )
    assert run(recipe, echo=lambda _: None).test_accuracy >= 0.99
