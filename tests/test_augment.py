"""Augmentation: per-image albumentations in the input pipeline, MixUp/CutMix, TTA, preview."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT, tiny_recipe

from kerasnets.data.augment import BatchAugmenter
from kerasnets.data.batch_mix import cutmix, mixup
from kerasnets.data.inputs import make_pipelines
from kerasnets.data.pipeline import load_splits, make_dataset
from kerasnets.errors import KerasnetsError, RecipeError
from kerasnets.recipe import load_recipe, validate
from kerasnets.train.tasks import TASKS

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
LABELS = np.arange(20, dtype=np.int32) % 4


#: Steps with fixed parameters covered by the whole-batch and the in-graph kernels.
KERNEL_STEPS = [
    {"Affine": {"scale": 1.1, "rotate": [7, 7], "shear": [3, 3], "translate_px": [1, 1], "p": 1.0}},
    {
        "Affine": {
            "scale": {"x": 0.9, "y": 1.2},
            "rotate": [-20, -20],
            "translate_percent": [0.1, 0.1],
            "p": 1.0,
        }
    },
    {"Affine": {"scale": 0.8, "rotate": [33, 33], "translate_percent": [-0.13, -0.13], "fill": 9, "p": 1}},
    {"PadIfNeeded": {"min_height": 13, "min_width": 11, "border_mode": 0, "fill": 7}},
    {"HorizontalFlip": {"p": 1.0}},
    {"VerticalFlip": {"p": 1.0}},
]


def batches(augmenter=None, seed=0, mixers=(), one_hot=False, shuffle=False):
    ds = make_dataset(
        IMAGES,
        LABELS,
        10,
        shuffle=shuffle,
        seed=seed,
        num_classes=4,
        one_hot=one_hot,
        mean=[0.0] * 3,
        std=[1.0] * 3,
        augmenter=augmenter,
        mixers=list(mixers),
    )
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_augmentation_changes_pixels_not_labels():
    flipped = batches(BatchAugmenter([{"HorizontalFlip": {"p": 1.0}}]))
    images = np.concatenate([x for x, _ in flipped])
    labels = np.concatenate([y for _, y in flipped])
    np.testing.assert_array_equal(labels, LABELS)
    np.testing.assert_array_equal(images, IMAGES[:, :, ::-1].astype(np.float32))
    assert not np.array_equal(images, IMAGES.astype(np.float32))


def test_random_transforms_are_reproducible_per_seed_and_vary_per_epoch():
    steps = [
        {"PadIfNeeded": {"min_height": 12, "min_width": 12, "border_mode": 0, "fill": 0}},
        {"RandomCrop": {"height": 8, "width": 8}},
    ]
    a = make_dataset(
        IMAGES,
        LABELS,
        10,
        shuffle=True,
        seed=1,
        num_classes=4,
        one_hot=False,
        mean=[0.0] * 3,
        std=[1.0] * 3,
        augmenter=BatchAugmenter(steps),
    )
    b = make_dataset(
        IMAGES,
        LABELS,
        10,
        shuffle=True,
        seed=1,
        num_classes=4,
        one_hot=False,
        mean=[0.0] * 3,
        std=[1.0] * 3,
        augmenter=BatchAugmenter(steps),
    )
    epoch_a1, epoch_a2 = [next(iter(a))[0].numpy() for _ in range(2)]
    epoch_b1 = next(iter(b))[0].numpy()
    np.testing.assert_array_equal(epoch_a1, epoch_b1)  # same seed, same batches
    assert not np.array_equal(epoch_a1, epoch_a2)  # a new epoch draws new crops and order
    other = batches(BatchAugmenter(steps), seed=2, shuffle=True)[0][0]
    assert not np.array_equal(other, epoch_a1)


def test_pipeline_keeps_static_shapes():
    ds = make_dataset(
        IMAGES,
        LABELS,
        10,
        shuffle=True,
        seed=0,
        num_classes=4,
        one_hot=True,
        mean=[0.0] * 3,
        std=[1.0] * 3,
        augmenter=BatchAugmenter([{"HorizontalFlip": {}}]),
    )
    images, labels = ds.element_spec
    assert tuple(images.shape)[1:] == (8, 8, 3) and tuple(labels.shape)[1:] == (4,)
    assert images.shape[0] in (None, 10) and labels.shape[0] == images.shape[0]


def test_validation_and_test_data_are_never_augmented():
    recipe = validate(
        tiny_recipe(
            augment=[{"HorizontalFlip": {"p": 1.0}}],
            data={"options": {"num_samples": 100, "num_classes": 4, "shape": [8, 8, 3]}},
        ),
        "t",
    )
    splits = load_splits(recipe.data)
    pipes = make_pipelines(recipe, splits, 16, TASKS.get("classify")(recipe), BatchAugmenter(recipe.augment))
    val = np.concatenate([x.numpy() for x, _ in pipes.validation])
    test = np.concatenate([x.numpy() for x, _ in pipes.test])
    np.testing.assert_allclose(val, splits.normalize(splits.x_val), rtol=1e-6)
    np.testing.assert_allclose(test, splits.normalize(splits.x_test), rtol=1e-6)


@pytest.mark.parametrize("mixer, options", [(mixup, {"alpha": 0.4}), (cutmix, {"alpha": 1.0})])
def test_mixed_labels_sum_to_one_and_images_change(mixer, options):
    mixed = batches(mixers=[(mixer, options)], one_hot=True, seed=3)
    plain = batches(one_hot=True, seed=3)
    for (x, y), (x0, _) in zip(mixed, plain, strict=True):
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
        assert (y.max(axis=1) < 1.0).any()  # some labels really are mixed
        assert not np.array_equal(x, x0)


def test_cutmix_label_share_equals_the_pasted_area():
    import tensorflow as tf

    images = tf.concat([tf.zeros((1, 16, 16, 1)), tf.ones((1, 16, 16, 1))], axis=0)
    labels = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    for seed in range(5):
        x, y = cutmix(images, labels, tf.constant(seed, tf.int64), alpha=1.0)
        pasted = float(tf.reduce_mean(x[0]))  # image 0 is zeros: ones come from its partner
        if float(y[0, 1]) > 0:
            assert float(y[0, 1]) == pytest.approx(pasted, abs=1e-6)


def test_transforms_that_change_the_size_are_refused():
    with pytest.raises(KerasnetsError, match="turn"):
        BatchAugmenter([{"RandomCrop": {"height": 4, "width": 4}}]).check_shape(IMAGES[0])


def test_bad_transform_arguments_are_recipe_errors(write_recipe):
    path = write_recipe(
        "augment:\n  - HorizontalFlip: {probability: 0.5}\naugment_batch:\n  - mixup: {alpha: -1}\n"
        "  - cutmax: {}\n"
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    lines = [line.strip() for line in str(info.value).splitlines()[1:]]
    assert lines[0].startswith("augment[0].HorizontalFlip: invalid arguments:") and "probability" in lines[0]
    assert lines[1:] == [
        "augment_batch[0].mixup.alpha: expected a number greater than 0.0, got -1",
        "augment_batch[1]: unknown batch augmentation 'cutmax'. Did you mean 'cutmix'?",
    ]


def test_shipped_fragments_compose():
    for name in ("cifar_standard", "mnist_distortions"):
        recipe = load_recipe(ROOT / "recipes" / "fragments" / "augment" / f"{name}.yaml")
        size = 32 if name == "cifar_standard" else 28
        channels = 3 if name == "cifar_standard" else 1
        image = RNG.integers(0, 256, (size, size, channels), dtype=np.uint8)
        BatchAugmenter(recipe.augment).check_shape(image)


def test_tta_views_are_the_image_and_its_mirror_and_ten_real_crops():
    from kerasnets.data.geometry import TTA_VIEWS

    image = RNG.integers(0, 256, (10, 12, 1), dtype=np.uint8)
    flips = TTA_VIEWS["hflip"](image, (10, 12), None, 0.875).numpy()
    np.testing.assert_array_equal(flips[0], image)
    np.testing.assert_array_equal(flips[1], image[:, ::-1])
    # eval_side 10 keeps the 10x12 image; the crops are real 8x8 windows of it, and mirrored
    crops = TTA_VIEWS["ten_crop"](image, (8, 8), 10, 0.875).numpy()
    assert crops.shape == (10, 8, 8, 1)
    windows = [image[:8, :8], image[:8, 4:], image[2:, :8], image[2:, 4:], image[1:9, 2:10]]
    for i, window in enumerate(windows):
        np.testing.assert_array_equal(crops[2 * i], window)
        np.testing.assert_array_equal(crops[2 * i + 1], window[:, ::-1])


def test_run_with_augmentation_mixup_and_tta(tracking):
    import mlflow

    recipe = validate(
        tiny_recipe(
            augment=[{"HorizontalFlip": {"p": 0.5}}],
            augment_batch=[{"mixup": {"alpha": 0.2}}],
            eval={"tta": "hflip"},
            tracking={"enabled": True, "experiment": "augment", "log_model": False},
        ),
        "t",
    )
    from kerasnets.train.loop import run

    result = run(recipe, echo=lambda _: None)
    assert result.test_accuracy_tta is not None and 0 <= result.test_accuracy_tta <= 1
    run_data = mlflow.MlflowClient(tracking).get_run(result.run_id).data
    assert "test_accuracy_tta" in run_data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient(tracking).list_artifacts(result.run_id)}
    assert "augmentation_preview.png" in artifacts


def test_preview_command_writes_a_png(tmp_path, capsys):
    from kerasnets.cli import main

    out = tmp_path / "grid.png"
    assert (
        main(
            [
                "preview",
                str(ROOT / "recipes" / "digits_lenet5.yaml"),
                "--out",
                str(out),
                "--count",
                "8",
                "--set",
                "augment=[{HorizontalFlip: {p: 1.0}}]",
            ]
        )
        == 0
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("step", KERNEL_STEPS, ids=lambda s: next(iter(s)))
@pytest.mark.parametrize("channels", [1, 3])
def test_batch_kernels_match_albumentations_exactly(step, channels):
    from kerasnets.data.augment import build_transforms

    augmenter = BatchAugmenter([step])
    assert augmenter.batch_kernels == [next(iter(step))]
    images = RNG.integers(0, 256, (4, 9, 9, channels), dtype=np.uint8)
    reference = build_transforms([step])
    expected = np.stack(
        [reference(image=im)["image"].reshape(augmenter(im[None], 0).shape[1:]) for im in images]
    )
    np.testing.assert_array_equal(augmenter(images, 0), expected)


def test_batch_kernels_draw_parameters_per_image():
    augmenter = BatchAugmenter([{"Affine": {"rotate": [-30, 30], "p": 0.5}}])
    images = np.repeat(RNG.integers(0, 256, (1, 16, 16, 1), dtype=np.uint8), 64, axis=0)
    out = augmenter(images, 5)
    unchanged = (out == images).all(axis=(1, 2, 3))
    assert 10 < unchanged.sum() < 54  # p = 0.5 per image
    assert len({out[i].tobytes() for i in np.flatnonzero(~unchanged)}) == (~unchanged).sum()  # own angles


def test_uncovered_transforms_fall_back_to_albumentations_in_order():
    augmenter = BatchAugmenter(
        [{"HorizontalFlip": {"p": 1.0}}, {"InvertImg": {"p": 1.0}}, {"VerticalFlip": {"p": 1.0}}]
    )
    assert [kind for kind, _ in augmenter.stages] == ["batch", "image", "batch"]
    images = RNG.integers(0, 256, (3, 5, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(augmenter(images, 0), 255 - images[:, ::-1, ::-1])


@pytest.mark.parametrize("step", KERNEL_STEPS, ids=lambda s: next(iter(s)))
@pytest.mark.parametrize("channels", [1, 3])
def test_in_graph_kernels_equal_the_numpy_kernels(step, channels):
    """Same fixed parameters -> the same pixels as the numpy kernels (and so albumentations):
    exactly, or for warps within one grey level where float rounding lands on a .5."""
    import tensorflow as tf

    augmenter = BatchAugmenter([step])
    assert augmenter.in_graph
    images = RNG.integers(0, 256, (32, 17, 19, channels), dtype=np.uint8)
    in_graph = augmenter.apply_in_graph(tf.constant(images), tf.constant(0, tf.int64)).numpy()
    difference = np.abs(in_graph.astype(int) - augmenter(images, 0))
    assert difference.max() <= (1 if "Affine" in step else 0)
    assert (difference > 0).mean() < 1e-3


def test_in_graph_random_crops_are_windows_drawn_per_image():
    import tensorflow as tf

    augmenter = BatchAugmenter([{"RandomCrop": {"height": 5, "width": 5}}])
    images = RNG.integers(0, 256, (64, 9, 9, 1), dtype=np.uint8)
    out = augmenter.apply_in_graph(tf.constant(images), tf.constant(3, tf.int64)).numpy()
    offsets = []
    for image, crop in zip(images, out, strict=True):
        found = [
            (y, x) for y in range(5) for x in range(5) if np.array_equal(crop, image[y : y + 5, x : x + 5])
        ]
        assert found
        offsets.append(found[0])
    assert len(set(offsets)) > 10  # each image its own offset


def test_in_graph_only_when_every_transform_has_a_graph_kernel():
    assert BatchAugmenter([{"HorizontalFlip": {}}, {"Affine": {"rotate": [-5, 5]}}]).in_graph
    assert not BatchAugmenter([{"HorizontalFlip": {}}, {"InvertImg": {}}]).in_graph
    assert not BatchAugmenter([{"Affine": {"rotate": [-5, 5], "interpolation": 0}}]).in_graph
    assert not BatchAugmenter([{"HorizontalFlip": {}}], in_graph=False).in_graph


def test_in_graph_affine_draws_parameters_per_image_with_probability_p():
    import tensorflow as tf

    augmenter = BatchAugmenter([{"Affine": {"rotate": [-30, 30], "p": 0.5}}])
    images = np.repeat(RNG.integers(0, 256, (1, 16, 16, 1), dtype=np.uint8), 64, axis=0)
    out = augmenter.apply_in_graph(tf.constant(images), tf.constant(5, tf.int64)).numpy()
    unchanged = (out == images).all(axis=(1, 2, 3))
    assert 10 < unchanged.sum() < 54
    assert len({out[i].tobytes() for i in np.flatnonzero(~unchanged)}) == (~unchanged).sum()
    again = augmenter.apply_in_graph(tf.constant(images), tf.constant(5, tf.int64)).numpy()
    np.testing.assert_array_equal(out, again)  # the batch seed decides
