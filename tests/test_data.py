"""Data sets: file parsers on files the tests write, the shared copies when present, lookup
order, offline errors, splits and normalisation."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA

from kerasnets.data.datasets import DATASETS, cifar10, find_dir, folder, load, read_cifar_batch, read_idx
from kerasnets.data.pipeline import convert_channels, make_dataset, prepare, resize_images
from kerasnets.errors import DataError
from kerasnets.recipe import DataSection


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_mnist_like(folder: Path, n_train: int = 30, n_test: int = 10) -> tuple[np.ndarray, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x_tr = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    y_tr = (np.arange(n_train) % 10).astype(np.uint8)
    write_idx(folder / "train-images-idx3-ubyte.gz", x_tr)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y_tr)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", (np.arange(n_test) % 10).astype(np.uint8))
    return x_tr, y_tr


def write_cifar_batch(path: Path, images: np.ndarray, labels: list[int], key: bytes = b"labels") -> None:
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # planes R, G, B, row by row
    batch = {
        b"batch_label": b"test",
        key: labels,
        b"data": data,
        b"filenames": [f"{i}.png".encode() for i in range(len(labels))],
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def test_idx_parser_reads_what_was_written(tmp_path):
    x, y = write_mnist_like(tmp_path)
    np.testing.assert_array_equal(read_idx(tmp_path / "train-images-idx3-ubyte.gz"), x)
    np.testing.assert_array_equal(read_idx(tmp_path / "train-labels-idx1-ubyte.gz"), y)


def test_idx_parser_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short.gz"
    with gzip.open(short, "wb") as f:
        f.write(struct.pack(">BBBBI", 0, 0, 8, 1, 100) + b"\x00" * 10)
    with pytest.raises(DataError, match="expected 100 values"):
        read_idx(short)


def test_cifar_pickle_parser_restores_hwc_images(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    write_cifar_batch(tmp_path / "data_batch_1", images, [0, 1, 2, 3, 4])
    x, y = read_cifar_batch(tmp_path / "data_batch_1")
    np.testing.assert_array_equal(x, images)
    assert y.tolist() == [0, 1, 2, 3, 4]


def test_cifar10_loader_from_a_local_folder(tmp_path):
    base = tmp_path / "cifar10" / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_cifar_batch(base / name, rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8), [0, 1, 2, 3])
    if (SHARED_DATA / "cifar10" / "cifar-10-batches-py" / "batches.meta").is_file():
        (base / "batches.meta").write_bytes(
            (SHARED_DATA / "cifar10/cifar-10-batches-py/batches.meta").read_bytes()
        )
    raw = cifar10([tmp_path])
    assert raw.x_train.shape == (20, 32, 32, 3) and raw.x_test.shape == (4, 32, 32, 3)
    assert len(raw.class_names) == 10
    if (base / "batches.meta").is_file():
        assert raw.class_names[0] == "airplane"


def test_cifar100_loader_reads_fine_and_coarse_labels(tmp_path):
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    images = np.zeros((3, 32, 32, 3), dtype=np.uint8)
    for split in ("train", "test"):
        data = images.transpose(0, 3, 1, 2).reshape(3, -1)
        with open(base / split, "wb") as f:
            pickle.dump({b"data": data, b"fine_labels": [5, 50, 99], b"coarse_labels": [1, 2, 3]}, f)
    assert load("cifar100", [tmp_path]).y_train.tolist() == [5, 50, 99]
    assert load("cifar100", [tmp_path], label_mode="coarse").y_train.tolist() == [1, 2, 3]


def test_lookup_order_prefers_the_first_folder(tmp_path):
    write_mnist_like(tmp_path / "first" / "mnist", n_train=20)
    write_mnist_like(tmp_path / "second" / "mnist", n_train=40)
    raw = load("mnist", [tmp_path / "first", tmp_path / "second"])
    assert raw.x_train.shape == (20, 28, 28, 1)
    assert raw.source == str(tmp_path / "first" / "mnist")
    assert (
        find_dir([tmp_path / "missing", tmp_path / "second"], ["mnist"], ["train-images-idx3-ubyte.gz"])
        == tmp_path / "second" / "mnist"
    )


def test_data_dir_env_var_is_searched(tmp_path, monkeypatch):
    from kerasnets.data.datasets import search_dirs

    monkeypatch.setenv("KERASNETS_DATA_DIR", str(tmp_path / "env"))
    dirs = search_dirs("recipe_dir", "cli_dir")
    assert dirs[:3] == [Path("recipe_dir"), Path("cli_dir"), tmp_path / "env"]
    assert dirs[3].name == "datasets"  # the Keras cache comes last


def test_offline_and_missing_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASNETS_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        load("fashion_mnist", [tmp_path])
    message = str(info.value)
    assert "not found locally and KERASNETS_OFFLINE is set" in message
    assert str(tmp_path / "fashion-mnist") in message
    assert "KERASNETS_DATA_DIR" in message


def test_digits_is_embedded():
    raw = load("digits", [])
    assert raw.x_train.shape == (1797, 8, 8, 1) and raw.x_test is None
    assert raw.x_train.max() == 255 and raw.y_train.max() == 9


def test_synthetic_is_deterministic_and_shaped():
    a = load("synthetic", [], num_samples=50, num_classes=3, shape=(8, 8, 2))
    b = load("synthetic", [], num_samples=50, num_classes=3, shape=(8, 8, 2))
    assert a.x_train.shape == (50, 8, 8, 2) and set(a.y_train.tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(a.x_train, b.x_train)


def test_folder_loader_reads_class_subfolders(tmp_path):
    from PIL import Image

    for label, colour in (("cat", 10), ("dog", 200)):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("RGB", (12, 10), (colour, colour, colour)).save(tmp_path / label / f"{i}.png")
    raw = folder([tmp_path], image_size=(8, 8))
    assert raw.class_names == ["cat", "dog"]
    assert raw.x_train.shape == (6, 8, 8, 3)
    assert raw.y_train.tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(DataError, match="needs data.dir"):
        folder([tmp_path / "nope"])


def test_prepare_splits_and_standardises_with_training_statistics():
    raw = load("digits", [])
    data = DataSection(dataset="digits", image_size=(16, 16), validation_split=0.1, test_split=0.2)
    splits = prepare(raw, data)
    sizes = splits.sizes()
    assert sum(sizes.values()) == 1797 and sizes["test"] == 360
    assert splits.input_shape == (16, 16, 1) and splits.x_train.dtype == np.uint8
    seen = splits.normalize(splits.x_train)
    assert abs(float(seen.mean())) < 1e-3 and abs(float(seen.std()) - 1) < 1e-3
    assert set(np.unique(splits.y_test)) == set(range(10))  # stratified
    again = prepare(raw, data)
    np.testing.assert_array_equal(splits.y_test, again.y_test)  # the split is fixed by data.seed


def test_limit_caps_the_training_examples():
    raw = load("synthetic", [], num_samples=200)
    splits = prepare(raw, DataSection(dataset="synthetic", limit=50, validation_split=0.2))
    assert len(splits.y_train) == 40 and len(splits.y_val) == 10


def test_pad_centres_and_resize_interpolates():
    x = np.ones((2, 28, 28, 1), dtype=np.uint8)
    padded = resize_images(x, (32, 32), "pad")
    assert padded.shape == (2, 32, 32, 1) and padded.sum() == 2 * 28 * 28
    assert padded[0, 2, 2, 0] == 1 and padded[0, 1, 1, 0] == 0
    assert resize_images(x.astype(np.float32), (14, 14), "resize").shape == (2, 14, 14, 1)
    assert convert_channels(x, 3).shape == (2, 28, 28, 3)


def test_dataset_batches_keep_labels_aligned():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    y = np.arange(10, dtype=np.int32)
    ds = make_dataset(x, y, 4, shuffle=True, seed=0, num_classes=10, one_hot=False, mean=[0.0], std=[1.0])
    seen = []
    for images, labels in ds:
        np.testing.assert_array_equal(images.numpy().reshape(-1), labels.numpy())
        seen += labels.numpy().tolist()
    assert sorted(seen) == list(range(10))
    (_, one_hot), *_ = list(
        make_dataset(x, y, 10, shuffle=False, seed=0, num_classes=10, one_hot=True, mean=[0.0], std=[1.0])
    )
    np.testing.assert_array_equal(one_hot.numpy(), np.eye(10))


def test_registry_lists_every_dataset_of_the_spec():
    assert {"digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "folder", "synthetic"} <= set(
        DATASETS.names()
    )


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="shared MNIST copy not present")
@pytest.mark.parametrize("name, sub", [("mnist", "mnist"), ("fashion_mnist", "fashion-mnist")])
def test_real_idx_files_from_the_shared_copy(name, sub):
    raw = load(name, [SHARED_DATA])
    assert raw.x_train.shape == (60000, 28, 28, 1) and raw.x_test.shape == (10000, 28, 28, 1)
    assert raw.source == str(SHARED_DATA / sub)
    if name == "mnist":
        assert np.bincount(raw.y_train).tolist()[:3] == [5923, 6742, 5958]
        assert np.bincount(raw.y_test).tolist()[:3] == [980, 1135, 1032]
    else:
        assert np.bincount(raw.y_train).tolist() == [6000] * 10
