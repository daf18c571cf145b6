"""Autoencoders and the DCGAN: shapes, the reconstruct / denoise / generate tasks through the
training loop, the GAN's two separate updates, deterministic sampling, a generator that
saves and loads safely, and the per-epoch MLflow logging of a GAN run."""

from __future__ import annotations

import math
import os
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from conftest import RECIPES, tiny_recipe

from kerasnets.models import build, models_for_task
from kerasnets.recipe import load_recipe, validate
from kerasnets.train.loop import run

GENERATIVE_TASKS = ("reconstruct", "denoise", "generate")
GENERATIVE_RECIPES = [p for p in RECIPES if load_recipe(p).task.name in GENERATIVE_TASKS]
AUTOENCODERS = sorted(set(models_for_task("reconstruct")) | set(models_for_task("denoise")))
IMAGE = (8, 8, 1)
TINY_GAN = {
    "name": "dcgan",
    "latent_dim": 8,
    "generator_filters": [8, 4],
    "discriminator_filters": [4, 8],
}


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session(free_memory=False)


def _quiet(_: str) -> None:
    pass


def _recipe(task: dict, model: dict, **sections) -> dict:
    """The tiny synthetic recipe with ``model`` replacing (not merging into) its MLP."""
    recipe = tiny_recipe(task=task, **sections)
    recipe["model"] = model
    return recipe


def _tiny_gan(d_lr: float = 1e-3, g_lr: float = 1e-3):
    gan = build("dcgan", IMAGE, 1, **{k: v for k, v in TINY_GAN.items() if k != "name"})
    gan.compile(
        d_optimizer=keras.optimizers.Adam(d_lr), g_optimizer=keras.optimizers.Adam(g_lr), jit_compile=False
    )
    return gan


def _values(variables) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def _changed(before: list[np.ndarray], variables) -> bool:
    return any(not np.array_equal(b, a) for b, a in zip(before, _values(variables), strict=True))


# ----------------------------------------------------------------------------- autoencoders


def test_the_registry_has_both_autoencoders_and_the_gan():
    assert {"dense_autoencoder", "conv_autoencoder"} <= set(AUTOENCODERS)
    assert models_for_task("generate") == ["dcgan"]


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (30, 30, 3)])
@pytest.mark.parametrize("decoder", ["transpose", "upsample"])
@pytest.mark.parametrize("downsample", ["stride", "pool"])
def test_conv_autoencoder_output_has_the_input_shape(shape, decoder, downsample):
    model = build(
        "conv_autoencoder", shape, 10, filters=(4, 8, 8), code_size=4, decoder=decoder, downsample=downsample
    )
    assert model.output_shape == (None, *shape)
    assert model.get_layer("code").output.shape == (None, 4)
    assert model.get_layer("encoder_conv1") and model.get_layer("decoder_output")


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_dense_autoencoder_output_has_the_input_shape(shape):
    model = build("dense_autoencoder", shape, 10, hidden=(16, 8), code_size=4)
    batch = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    assert tuple(model(batch).shape) == (2, *shape)
    assert model.get_layer("code").output.shape == (None, 4)


def test_reconstruct_task_trains_and_reports_psnr():
    recipe = validate(
        _recipe(
            {"name": "reconstruct"},
            {"name": "conv_autoencoder", "filters": [8], "code_size": 8},
            train={"epochs": 4},
        ),
        "t",
    )
    result = run(recipe, echo=_quiet)
    losses = result.history["loss"]
    assert losses[-1] < 0.8 * losses[0]
    assert math.isfinite(result.metrics["test_psnr"]) and result.metrics["test_psnr"] > 10
    assert "test_psnr_gain" not in result.metrics
    assert result.model.output_shape == (None, *IMAGE)


def test_denoise_task_reports_the_gain_over_the_noisy_input():
    recipe = validate(
        _recipe(
            {"name": "denoise", "noise": "gaussian", "noise_level": 1.0},
            {"name": "dense_autoencoder", "hidden": [32], "code_size": 8},
            train={"epochs": 4},
        ),
        "t",
    )
    metrics = run(recipe, echo=_quiet).metrics
    assert {"test_psnr", "test_noisy_psnr", "test_psnr_gain"} <= set(metrics)
    assert metrics["test_psnr_gain"] == pytest.approx(metrics["test_psnr"] - metrics["test_noisy_psnr"])
    assert metrics["test_psnr_gain"] > 0  # even a few epochs beat noise of one standard deviation


# ----------------------------------------------------------------------------- the GAN


def test_gan_step_updates_the_discriminator_then_the_generator():
    gan = _tiny_gan()
    real = np.random.default_rng(0).uniform(-1, 1, (16, *IMAGE)).astype("float32")
    d_before, g_before = (
        _values(gan.discriminator.trainable_variables),
        _values(gan.generator.trainable_variables),
    )
    logs = gan.train_step((real, np.zeros(16)))
    assert set(logs) == {"d_loss", "g_loss"} and all(math.isfinite(float(v)) for v in logs.values())
    assert _changed(d_before, gan.discriminator.trainable_variables)
    assert _changed(g_before, gan.generator.trainable_variables)
    assert int(gan.d_optimizer.iterations) == int(gan.g_optimizer.iterations) == 1


@pytest.mark.parametrize("frozen", ["generator", "discriminator"])
def test_each_optimizer_moves_only_its_own_network(frozen):
    gan = _tiny_gan(
        d_lr=0.0 if frozen == "discriminator" else 1e-3, g_lr=0.0 if frozen == "generator" else 1e-3
    )
    real = np.random.default_rng(1).uniform(-1, 1, (16, *IMAGE)).astype("float32")
    nets = {"generator": gan.generator, "discriminator": gan.discriminator}
    before = {name: _values(net.trainable_variables) for name, net in nets.items()}
    gan.train_step(real)
    for name, net in nets.items():
        assert _changed(before[name], net.trainable_variables) == (name != frozen), name


def test_fit_reports_d_loss_and_g_loss_per_epoch():
    gan = _tiny_gan()
    real = np.random.default_rng(2).uniform(-1, 1, (32, *IMAGE)).astype("float32")
    history = gan.fit(real, batch_size=8, epochs=2, verbose=0).history
    assert set(history) == {"d_loss", "g_loss"} and len(history["d_loss"]) == 2
    assert gan.optimizer is None  # no single optimiser: per-epoch LR schedules are skipped
    assert gan.count_params() == gan.generator.count_params() + gan.discriminator.count_params()


@pytest.mark.parametrize("shape", [(28, 28, 1), (30, 30, 1), (29, 31, 3)])
def test_generator_output_has_the_image_shape_for_any_size(shape):
    gan = build("dcgan", shape, 1, latent_dim=4, generator_filters=[8, 4], discriminator_filters=[4])
    assert gan.generator.output_shape == (None, *shape)  # upsampled past the size, then cropped
    assert gan.discriminator.input_shape == (None, *shape)


def test_samples_are_deterministic_images_in_minus_one_to_one():
    gan = _tiny_gan()
    first, again, other = gan.sample(6, seed=3), gan.sample(6, seed=3), gan.sample(6, seed=4)
    assert first.shape == (6, *IMAGE)
    assert first.min() >= -1.0 and first.max() <= 1.0
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_the_generator_saves_and_loads_safely(tmp_path):
    gan = _tiny_gan()
    gan.train_step(np.random.default_rng(3).uniform(-1, 1, (8, *IMAGE)).astype("float32"))
    path = tmp_path / "generator.keras"
    gan.generator.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    noise = np.random.default_rng(4).normal(size=(5, gan.latent_dim)).astype("float32")
    np.testing.assert_allclose(
        loaded.predict(noise, verbose=0), gan.generator.predict(noise, verbose=0), atol=1e-6
    )


def test_the_whole_gan_saves_and_loads_safely_with_its_optimizers(tmp_path):
    gan = _tiny_gan(d_lr=2e-4, g_lr=1e-3)
    gan.train_step(np.random.default_rng(5).uniform(-1, 1, (8, *IMAGE)).astype("float32"))
    gan.save(tmp_path / "gan.keras")
    again = keras.saving.load_model(tmp_path / "gan.keras", safe_mode=True)
    assert type(again) is type(gan) and again.latent_dim == gan.latent_dim
    np.testing.assert_allclose(again.sample(4, seed=1), gan.sample(4, seed=1), atol=1e-6)
    assert float(again.g_optimizer.learning_rate) == pytest.approx(1e-3)
    assert int(again.d_optimizer.iterations) == 1  # the optimiser state came back too


def test_a_gan_run_logs_losses_samples_and_the_generator(tracking):
    recipe = validate(
        _recipe(
            {"name": "generate"},
            TINY_GAN,
            data={"validation_split": 0.0},
            optimizer={"name": "adam", "learning_rate": 2e-4, "beta_1": 0.5},
            tracking={"enabled": True, "experiment": "gan", "log_model": False},
        ),
        "t",
    )
    result = run(recipe, echo=_quiet)
    assert set(result.history) >= {"d_loss", "g_loss"}
    assert result.model.name == "generator" and result.model.output_shape == (None, *IMAGE)
    client = mlflow.MlflowClient(tracking)
    for key in ("d_loss", "g_loss"):
        assert [m.step for m in client.get_metric_history(result.run_id, key)] == [1, 2], key
    assert client.get_run(result.run_id).info.status == "FINISHED"
    samples = {a.path for a in client.list_artifacts(result.run_id, "samples")}
    assert samples == {"samples/epoch_001.png", "samples/epoch_002.png"}
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {
        "learning_curves.png",
        "model.keras",
        "model_summary.txt",
        "augmentation_preview.png",
    } <= artifacts
    generator = keras.saving.load_model(
        client.download_artifacts(result.run_id, "model.keras"), safe_mode=True
    )
    assert generator.output_shape == (None, *IMAGE)


# ----------------------------------------------------------------------------- recipes (slow)


def _mnist_available() -> bool:
    return (Path(os.environ.get("KERASNETS_DATA_DIR", "")) / "mnist").is_dir()


@pytest.mark.slow
@pytest.mark.parametrize("path", GENERATIVE_RECIPES, ids=[p.name for p in GENERATIVE_RECIPES])
def test_every_generative_recipe_runs_one_epoch(path):
    """The shipped recipe on 512 MNIST digits (synthetic 28x28 images without a local copy)."""
    overrides = ["data.limit=512", "train.epochs=1", "train.verbose=0", "tracking.enabled=false"]
    if not _mnist_available():
        overrides += [
            "data.dataset=synthetic",
            "data.options={num_samples: 640, num_classes: 10, shape: [28, 28, 1]}",
        ]
    recipe = load_recipe(path, overrides)
    result = run(recipe, echo=_quiet)
    losses = result.history.get("loss") or result.history["g_loss"]
    assert len(losses) == 1 and math.isfinite(losses[0])
    if recipe.task.name != "generate":
        assert math.isfinite(result.metrics["test_psnr"])
