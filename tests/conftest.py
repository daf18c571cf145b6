"""Shared fixtures: offline data, the shared data copies when present, a temporary MLflow
store, a seed for every test and small recipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ["KERASNETS_OFFLINE"] = "1"  # tests never download

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
if "KERASNETS_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["KERASNETS_DATA_DIR"] = str(SHARED_DATA)

RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _seed():
    import numpy as np

    np.random.seed(0)


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> str:
    """One temporary SQLite store for the session (creating one costs seconds)."""
    folder = tmp_path_factory.mktemp("mlruns")
    return f"sqlite:///{folder}/mlflow.db"


@pytest.fixture
def tracking(mlflow_store, monkeypatch, tmp_path) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    monkeypatch.chdir(tmp_path)
    return mlflow_store


@pytest.fixture
def write_recipe(tmp_path):
    """Write a YAML text to a file and return its path."""

    def write(text: str, name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write


def tiny_recipe(**sections) -> dict:
    """A recipe mapping that trains an MLP on a little synthetic data in about a second."""
    recipe = {
        "data": {
            "dataset": "synthetic",
            "batch_size": 32,
            "validation_split": 0.2,
            "options": {"num_samples": 320, "num_classes": 4, "shape": [8, 8, 1]},
        },
        "model": {"name": "mlp", "hidden": [16]},
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "train": {"epochs": 2, "seed": 0, "verbose": 0},
        "tracking": {"enabled": False},
    }
    for key, value in sections.items():
        recipe[key] = {**recipe.get(key, {}), **value} if isinstance(value, dict) else value
    return recipe


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m kerasnets ARGS`` in a fresh process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "kerasnets", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=600,
    )
