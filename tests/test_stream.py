"""Streamed image folders: listing and splits, mixed sizes and formats, corrupt files skipped
and counted, crop geometry against hand-computed windows, and whole runs on generated folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kerasnets.data.files import ImageFiles, list_class_folder, split_folders

RNG = np.random.default_rng(0)
FORMATS = [("png", "RGB"), ("jpg", "RGB"), ("bmp", "RGB"), ("gif", "P"), ("png", "L"), ("png", "RGBA")]


def make_folder(root: Path, classes: int = 3, per_class: int = 8, corrupt: int = 0) -> Path:
    """Class folders of images in every format, mode and several sizes; the class is the
    image's brightness, so a small model learns it."""
    for c in range(classes):
        folder = root / f"class_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            suffix, mode = FORMATS[i % len(FORMATS)]
            height, width = 20 + 3 * (i % 4), 24 + 2 * (i % 3)
            value = 40 + 80 * c
            pixels = np.clip(RNG.normal(value, 10, (height, width, 4)), 0, 255).astype(np.uint8)
            image = Image.fromarray(pixels, "RGBA")
            image = image.convert(mode if mode != "P" else "RGB")
            if mode == "P":
                image = image.convert("P")
            image.save(folder / f"img_{i}.{suffix}")
    for k in range(corrupt):
        (root / f"class_{k % classes}" / f"broken_{k}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def test_listing_labels_classes_by_folder_name(tmp_path):
    make_folder(tmp_path, classes=3, per_class=4)
    paths, labels, classes = list_class_folder(tmp_path)
    assert classes == ["class_0", "class_1", "class_2"]
    assert len(paths) == 12 and np.bincount(labels).tolist() == [4, 4, 4]
    assert all(Path(p).parent.name == classes[y] for p, y in zip(paths, labels, strict=True))
    assert split_folders(tmp_path) == {}


def test_mixed_sizes_and_modes_decode_to_the_model_size(tmp_path):
    make_folder(tmp_path, classes=1, per_class=len(FORMATS))
    paths, _, _ = list_class_folder(tmp_path)
    images = ImageFiles(paths, (16, 16), 3)[:]
    assert images.shape == (len(FORMATS), 16, 16, 3) and images.dtype == np.uint8
    grey = ImageFiles(paths, (16, 16), 1)[np.array([0, 4])]
    assert grey.shape == (2, 16, 16, 1)
    # every image is a noisy ~40 grey level whatever its format: decoding kept the pixels
    assert np.all(np.abs(images.mean(axis=(1, 2, 3)) - 40) < 12)


def test_official_split_folders_are_used_and_classes_must_match(tmp_path):
    from kerasnets.data.datasets import folder
    from kerasnets.errors import DataError

    for split, count in (("train", 6), ("val", 2), ("test", 3)):
        make_folder(tmp_path / split, classes=2, per_class=count)
    raw = folder([tmp_path], (16, 16))
    assert (len(raw.x_train), len(raw.x_val), len(raw.x_test)) == (12, 4, 6)
    assert raw.class_names == ["class_0", "class_1"] and np.bincount(raw.y_test).tolist() == [3, 3]
    (tmp_path / "test" / "class_9").mkdir()
    (tmp_path / "test" / "class_9" / "a.png").write_bytes(
        (tmp_path / "test" / "class_0" / "img_0.png").read_bytes()
    )
    with pytest.raises(DataError, match="class_9"):
        folder([tmp_path], (16, 16))


def test_file_list_split_is_stratified_and_seeded(tmp_path):
    from kerasnets.data.datasets import folder
    from kerasnets.data.pipeline import prepare
    from kerasnets.recipe import validate

    make_folder(tmp_path, classes=3, per_class=10)
    recipe = validate({"data": {"dataset": "folder", "dir": str(tmp_path), "image_size": [32, 32]}}, "r.yaml")
    raw = folder([tmp_path], (32, 32))
    splits = prepare(raw, recipe.data)
    again = prepare(folder([tmp_path], (32, 32)), recipe.data)
    assert isinstance(splits.x_train, ImageFiles)
    assert np.bincount(splits.y_test).tolist() == [2, 2, 2]  # test_split 0.2 of 10 per class
    assert list(splits.x_test.paths) == list(again.x_test.paths)
    every = set(splits.x_train.paths) | set(splits.x_val.paths) | set(splits.x_test.paths)
    assert len(every) == 30 and len(splits.x_train) + len(splits.x_val) + len(splits.x_test) == 30


def test_center_crop_and_scale_jitter_are_windows_of_the_resized_image():
    import tensorflow as tf

    from kerasnets.data.geometry import eval_view, random_resized_crop, scale_jitter

    image = RNG.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    # shorter side 12 -> 12 (no resize), centre 8x8 window: rows 2..10, cols 6..14
    np.testing.assert_array_equal(eval_view(image, (8, 8), 12).numpy(), image[2:10, 6:14])
    # S_min = S_max = 12 keeps the image; the crop is some 8x8 window of it
    crop = scale_jitter(image, tf.constant([3, 4]), (8, 8), 12, 12).numpy()
    found = [(y, x) for y in range(5) for x in range(13) if np.array_equal(image[y : y + 8, x : x + 8], crop)]
    assert len(found) == 1
    # scale (1, 1) and the image's own aspect ratio: the whole image, resized
    whole = random_resized_crop(image, tf.constant([1, 2]), (6, 10), (1.0, 1.0), (20 / 12, 20 / 12)).numpy()
    expected = tf.image.resize(image.astype(np.float32), (6, 10), antialias=True).numpy()
    np.testing.assert_allclose(whole, np.clip(np.round(expected), 0, 255), atol=1)


def test_random_resized_crop_covers_the_asked_area():
    import tensorflow as tf

    from kerasnets.data.geometry import random_resized_crop

    # a ramp image: the crop's spread of values tells how much of the width it kept
    ramp = np.tile(np.linspace(0, 255, 100, dtype=np.float32)[None, :, None], (100, 1, 3)).astype(np.uint8)
    small = [
        random_resized_crop(ramp, tf.constant([s, 0]), (10, 10), (0.05, 0.06), (1.0, 1.0)) for s in range(8)
    ]
    spreads = [float(np.ptp(c.numpy()[..., 0])) for c in small]
    assert all(s < 80 for s in spreads)  # ~23% of the width: about 58 grey levels, not 255
    assert len({c.numpy().tobytes() for c in small}) > 1  # different seeds, different crops


def _folder_recipe(root: Path, **extra) -> dict:
    recipe = {
        "data": {"dataset": "folder", "dir": str(root), "image_size": [32, 32], "batch_size": 8},
        "model": {"name": "cnn_small"},
        "optimizer": {"name": "adam", "learning_rate": 0.003},
        "train": {"epochs": 2, "verbose": 0},
        "tracking": {"experiment": "folders", "log_model": False},
    }
    for key, value in extra.items():
        section, name = key.split("__")
        recipe.setdefault(section, {})[name] = value
    return recipe


def test_run_on_a_folder_skips_and_counts_corrupt_files(tracking, tmp_path):
    from mlflow import MlflowClient

    from kerasnets.recipe import validate
    from kerasnets.train import loop

    for split in ("train", "test"):
        make_folder(
            tmp_path / "images" / split, classes=3, per_class=12, corrupt=2 if split == "train" else 1
        )
    lines: list[str] = []
    recipe = _folder_recipe(tmp_path / "images", data__validation_split=0.0)
    result = loop.run(validate(recipe, "folder.yaml"), echo=lines.append)
    metrics = MlflowClient(tracking).get_run(result.run_id).data.metrics
    assert metrics["skipped_files_train"] == 2 and metrics["skipped_files_test"] == 1
    assert any("skipped unreadable image files: 2 of 38 train" in line for line in lines)
    assert result.test_accuracy > 0.6  # brightness classes: learnable in two epochs


def test_cached_crop_run_with_ten_crop_tta(tracking, tmp_path):
    from kerasnets.recipe import validate
    from kerasnets.train import loop

    make_folder(tmp_path / "images", classes=3, per_class=12)
    recipe = _folder_recipe(
        tmp_path / "images",
        data__cache="memory",
        data__shuffle_buffer=16,
        crop__train="random_resized",
        crop__scale=[0.5, 1.0],
        crop__eval_side=36,
        eval__tta="ten_crop",
    )
    result = loop.run(validate(recipe, "folder.yaml"), echo=lambda _: None)
    assert len(result.history["loss"]) == 2 and result.test_accuracy_tta is not None


def test_crops_work_on_in_memory_data_sets_too(tracking):
    from kerasnets.recipe import validate
    from kerasnets.train import loop

    recipe = {
        "data": {"dataset": "digits", "batch_size": 64, "image_size": [32, 32]},
        "crop": {"train": "scale_jitter", "min_side": 32, "max_side": 40, "eval_side": 36},
        "eval": {"tta": "ten_crop"},
        "train": {"epochs": 1, "verbose": 0},
        "tracking": {"enabled": False},
    }
    result = loop.run(validate(recipe, "digits.yaml"), echo=lambda _: None)
    assert result.test_accuracy > 0.3 and result.test_accuracy_tta is not None


@pytest.mark.parametrize(
    "change, key",
    [
        ({"crop": {"eval_side": 24}}, "crop.eval_side"),
        ({"crop": {"train": "scale_jitter", "min_side": 28, "max_side": 64}}, "crop.min_side"),
        ({"crop": {"train": "scale_jitter", "min_side": 64, "max_side": 40}}, "crop.min_side"),
        ({"data": {"cache": "memory"}}, "data.cache"),
        ({"data": {"shuffle_buffer": 100}}, "data.shuffle_buffer"),
        ({"crop": {"train": "random_resized"}, "task": {"name": "reconstruct"}}, "crop"),
    ],
)
def test_crop_and_stream_keys_are_checked_at_validation(change, key):
    from kerasnets.errors import RecipeError
    from kerasnets.recipe import validate

    recipe = {"data": {"dataset": "mnist", "image_size": [32, 32]}, **change}
    if "task" in change:
        recipe["model"] = {"name": "conv_autoencoder"}
    if "data" in change:
        recipe["data"] = {"dataset": "mnist", "image_size": [32, 32], **change["data"]}
    with pytest.raises(RecipeError) as error:
        validate(recipe, "r.yaml")
    assert key in {p.key for p in error.value.problems}


IMAGENET_RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("imagenet_*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("path", IMAGENET_RECIPES, ids=lambda p: p.stem)
def test_imagenet_recipes_train_an_epoch_on_a_generated_folder(path, tmp_path):
    """Each ImageNet recipe as shipped (crops, ten-crop test, augmentation) for one epoch on an
    ImageNet-style folder of mixed-size JPEGs (train/ and val/ sub-folders)."""
    from PIL import Image

    from kerasnets.recipe import load_recipe, validate
    from kerasnets.train import loop

    rng = np.random.default_rng(1)
    for split, count in (("train", 8), ("val", 2)):
        for c in range(2):
            folder = tmp_path / "imagenet" / split / f"n0{c}"
            folder.mkdir(parents=True)
            for i in range(count):
                height, width = rng.integers(240, 330, 2)
                pixels = np.clip(rng.normal(60 + 100 * c, 30, (height, width, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.JPEG")
    data = load_recipe(path).model_dump(mode="json")
    data["data"].update(dir=str(tmp_path / "imagenet"), batch_size=4, test_split=0.25)
    data["train"].update(epochs=1, verbose=0, steps_per_execution=1)
    data["tracking"]["enabled"] = False
    result = loop.run(validate(data, str(path)), echo=lambda _: None)
    assert len(result.history["loss"]) == 1 and result.test_accuracy is not None


def test_ensemble_of_runs_on_a_folder(tracking, tmp_path):
    from kerasnets.ensemble import ensemble
    from kerasnets.recipe import validate
    from kerasnets.train import loop

    make_folder(tmp_path / "images", classes=3, per_class=10)
    runs = []
    for seed in (0, 1):
        recipe = _folder_recipe(tmp_path / "images", train__seed=seed, crop__eval_side=36)
        runs.append(loop.run(validate(recipe, "folder.yaml"), echo=lambda _: None))
    result = ensemble([r.run_id for r in runs], "mean", echo=lambda _: None)
    members = sorted(result.member_accuracies)
    assert members == pytest.approx(sorted(r.test_accuracy for r in runs), abs=1e-6)
    assert 0 <= result.test_accuracy <= 1
