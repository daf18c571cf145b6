"""The data set loaders: each returns raw arrays (``RawData``) from local files, the Keras
cache or, as a last resort, the standard download. Importing this module registers every data
set (those of ``kerasnets.data.segmentation`` too) in ``DATASETS``, which lives, with
``RawData``, in ``kerasnets.data.base`` and is importable from here as before.

Local folders are searched in order: recipe ``data.dir``, ``--data-dir``, the environment
variable ``KERASNETS_DATA_DIR`` (layout of ``shared/data``: ``mnist/``, ``fashion-mnist/``,
``cifar10/cifar-10-batches-py/``), then the Keras cache ``~/.keras/datasets``.
Set ``KERASNETS_OFFLINE=1`` to never download.
"""

from __future__ import annotations

import gzip
import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kerasnets.data.base import DATASETS, LOADER_ARGS, RawData
from kerasnets.errors import DataError
from kerasnets.options import check_options


def check_loader_options(name: str, options: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return check_options(DATASETS.get(name), options, LOADER_ARGS)


def search_dirs(recipe_dir: str | None = None, cli_dir: str | None = None) -> list[Path]:
    """Where local copies are looked for, in order."""
    candidates = [recipe_dir, cli_dir, os.environ.get("KERASNETS_DATA_DIR"), keras_cache_dir()]
    return [Path(c).expanduser() for c in candidates if c]


def keras_cache_dir() -> str:
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(base, "datasets")


def load(name: str, search: list[Path], image_size: tuple[int, int] | None = None, **options: Any) -> RawData:
    """Load data set ``name`` (raises ``DataError`` with where it looked when missing)."""
    return DATASETS.get(name)(search, image_size=image_size, **options)


def find_dir(search: Sequence[Path], subdirs: Sequence[str], files: Sequence[str]) -> Path | None:
    """The first ``base/sub`` (or ``base``) holding all ``files``."""
    for base in search:
        for sub in (*subdirs, ""):
            folder = base / sub if sub else base
            if all((folder / f).is_file() for f in files):
                return folder
    return None


def _offline() -> bool:
    return os.environ.get("KERASNETS_OFFLINE", "").lower() not in ("", "0", "false", "no")


def _download_or_fail(
    name: str,
    search: Sequence[Path],
    subdirs: Sequence[str],
    files: Sequence[str],
    download: Callable[[], tuple],
) -> tuple:
    looked = [str(b / s) for b in search for s in subdirs] + [str(b) for b in search]
    hint = (
        f"Looked for {', '.join(files)} in: {', '.join(looked) or '(no folders)'}. "
        "Put the files there, or point data.dir, --data-dir or KERASNETS_DATA_DIR at a folder "
        f"holding them (layout: {subdirs[0]}/)."
    )
    if _offline():
        raise DataError(f"data set {name!r} not found locally and KERASNETS_OFFLINE is set. {hint}")
    try:
        return download()
    except Exception as exc:  # network errors come in many types
        raise DataError(
            f"data set {name!r} not found locally and the download failed "
            f"({exc.__class__.__name__}: {str(exc)[:200]}). {hint}"
        ) from None


# ----------------------------------------------------------------------------- file formats


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed when it ends in ``.gz``) into a uint8 array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    type_code, ndim = raw[2], raw[3]
    if type_code != 0x08:
        raise DataError(f"{path}: IDX type 0x{type_code:02x} is not supported (only unsigned bytes)")
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, np.uint8, offset=header)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: expected {int(np.prod(shape))} values for shape {shape}, found {data.size}")
    return data.reshape(shape)


def read_cifar_batch(path: Path, label_key: bytes = b"labels") -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR python pickle batch -> ``(N, 32, 32, 3)`` uint8 images and labels."""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")  # noqa: S301 - the CIFAR format is a pickle
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(batch[label_key], dtype=np.int32)


def _read_cifar_meta(folder: Path, meta_file: str, key: bytes) -> list[str]:
    path = folder / meta_file
    if not path.is_file():
        return []
    with open(path, "rb") as f:
        meta = pickle.load(f, encoding="bytes")  # noqa: S301
    return [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get(key, [])]


# ----------------------------------------------------------------------------- loaders

_IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def _idx_dataset(
    name: str,
    search: Sequence[Path],
    subdirs: Sequence[str],
    classes: list[str],
    download: Callable[[], tuple],
) -> RawData:
    folder = find_dir(search, subdirs, _IDX_FILES)
    if folder is not None:
        x_tr, y_tr, x_te, y_te = (read_idx(folder / f) for f in _IDX_FILES)
        source = str(folder)
    else:
        (x_tr, y_tr), (x_te, y_te) = _download_or_fail(name, search, subdirs, _IDX_FILES, download)
        source = "keras download"
    return RawData(
        x_tr[..., None], y_tr.astype(np.int32), classes, x_te[..., None], y_te.astype(np.int32), source
    )


@DATASETS.register("mnist", classes=10, shape=(28, 28, 1))
def mnist(search: list[Path], image_size: tuple[int, int] | None = None) -> RawData:
    """MNIST handwritten digits from the original IDX ``.gz`` files (60k train, 10k test)."""
    import_keras = lambda: __import__("keras").datasets.mnist.load_data()  # noqa: E731
    return _idx_dataset("mnist", search, ("mnist",), MNIST_CLASSES, import_keras)


@DATASETS.register("fashion_mnist", classes=10, shape=(28, 28, 1))
def fashion_mnist(search: list[Path], image_size: tuple[int, int] | None = None) -> RawData:
    """Fashion-MNIST (Zalando) from the original IDX ``.gz`` files (60k train, 10k test)."""
    import_keras = lambda: __import__("keras").datasets.fashion_mnist.load_data()  # noqa: E731
    return _idx_dataset(
        "fashion_mnist", search, ("fashion-mnist", "fashion_mnist"), FASHION_CLASSES, import_keras
    )


_CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


@DATASETS.register("cifar10", classes=10, shape=(32, 32, 3))
def cifar10(search: list[Path], image_size: tuple[int, int] | None = None) -> RawData:
    """CIFAR-10 from the python pickle batches (``cifar-10-batches-py``)."""
    subdirs = (
        "cifar10/cifar-10-batches-py",
        "cifar-10-batches-py",
        "cifar-10-batches-py_extracted/cifar-10-batches-py",
    )
    folder = find_dir(search, subdirs, _CIFAR10_FILES)
    if folder is None:
        download = lambda: __import__("keras").datasets.cifar10.load_data()  # noqa: E731
        (x_tr, y_tr), (x_te, y_te) = _download_or_fail("cifar10", search, subdirs, _CIFAR10_FILES, download)
        names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        return RawData(
            x_tr,
            y_tr.reshape(-1).astype(np.int32),
            names,
            x_te,
            y_te.reshape(-1).astype(np.int32),
            "keras download",
        )
    parts = [read_cifar_batch(folder / f) for f in _CIFAR10_FILES]
    x_tr = np.concatenate([p[0] for p in parts[:5]])
    y_tr = np.concatenate([p[1] for p in parts[:5]])
    names = _read_cifar_meta(folder, "batches.meta", b"label_names") or [str(i) for i in range(10)]
    return RawData(x_tr, y_tr, names, parts[5][0], parts[5][1], str(folder))


@DATASETS.register("cifar100", classes=100, shape=(32, 32, 3))
def cifar100(
    search: list[Path],
    image_size: tuple[int, int] | None = None,
    label_mode: Literal["fine", "coarse"] = "fine",
) -> RawData:
    """CIFAR-100 from the python pickles (``cifar-100-python/train`` and ``test``)."""
    subdirs = ("cifar100/cifar-100-python", "cifar-100-python", "cifar-100-python_extracted/cifar-100-python")
    files = ("train", "test")
    folder = find_dir(search, subdirs, files)
    if folder is None:
        download = lambda: __import__("keras").datasets.cifar100.load_data(label_mode=label_mode)  # noqa: E731
        (x_tr, y_tr), (x_te, y_te) = _download_or_fail("cifar100", search, subdirs, files, download)
        count = 100 if label_mode == "fine" else 20
        return RawData(
            x_tr,
            y_tr.reshape(-1).astype(np.int32),
            [str(i) for i in range(count)],
            x_te,
            y_te.reshape(-1).astype(np.int32),
            "keras download",
        )
    key = f"{label_mode}_labels".encode()
    x_tr, y_tr = read_cifar_batch(folder / "train", key)
    x_te, y_te = read_cifar_batch(folder / "test", key)
    names = _read_cifar_meta(folder, "meta", f"{label_mode}_label_names".encode())
    return RawData(x_tr, y_tr, names or [str(i) for i in range(int(y_tr.max()) + 1)], x_te, y_te, str(folder))


@DATASETS.register("digits", classes=10, shape=(8, 8, 1))
def digits(
    search: list[Path], image_size: tuple[int, int] | None = None, classes: list[int] | None = None
) -> RawData:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images): needs no download.
    ``classes`` keeps only those digits, relabelled 0, 1, ... in the order given (``[3, 8]``:
    a two-class problem, 3 -> 0 and 8 -> 1)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.clip(bunch.images * 16.0, 0, 255).astype(np.uint8)[..., None]  # 0..16 -> 0..255
    labels = bunch.target.astype(np.int32)
    if classes is None:
        return RawData(images, labels, MNIST_CLASSES, source="scikit-learn")
    if len(classes) < 2 or len(set(classes)) != len(classes) or not set(classes) <= set(range(10)):
        raise DataError(f"data set 'digits': classes must be two or more different digits 0-9, got {classes}")
    keep = np.isin(labels, classes)
    relabel = np.zeros(10, np.int32)
    relabel[list(classes)] = np.arange(len(classes))
    names = [MNIST_CLASSES[c] for c in classes]
    return RawData(images[keep], relabel[labels[keep]], names, source=f"scikit-learn, digits {classes}")


@DATASETS.register("folder", classes=None, shape=None, files=True)
def folder(search: list[Path], image_size: tuple[int, int] | None = None) -> RawData:
    """Images in ``data.dir``, one sub-folder per class (ImageNet style), streamed from disk:
    ``train/``, ``val/`` (or ``validation/``) and ``test/`` sub-folders give the splits when
    present, else the file list is split (stratified, ``data.seed``). PNG, JPEG, BMP, GIF and
    WebP files of any size, grey, RGB or RGBA; unreadable files are skipped and counted."""
    from kerasnets.data.files import ImageFiles, first_image_size, list_class_folder, split_folders

    root = search[0] if search else None
    if root is None or not root.is_dir():
        raise DataError(f"data set 'folder' needs data.dir (or --data-dir) to name a folder, got {root}")
    parts = split_folders(root)
    paths, labels, classes = list_class_folder(parts.get("train", root))
    size = tuple(image_size) if image_size else first_image_size(paths[0])
    files = lambda p: ImageFiles(p, size, 3)  # noqa: E731

    def split(name: str) -> tuple[Any, Any]:
        if name not in parts:
            return None, None
        found, found_labels, names = list_class_folder(parts[name])
        unknown = sorted(set(names) - set(classes))
        if unknown:
            raise DataError(f"{parts[name]}: class folders {unknown} are not in {parts['train']}")
        remap = np.asarray([classes.index(n) for n in names], dtype=np.int32)
        return files(found), remap[found_labels]

    x_val, y_val = split("validation")
    x_test, y_test = split("test")
    return RawData(files(paths), labels, classes, x_test, y_test, str(root), x_val=x_val, y_val=y_val)


@DATASETS.register("synthetic", classes=None, shape=None)
def synthetic(
    search: list[Path],
    image_size: tuple[int, int] | None = None,
    num_samples: int = 1024,
    num_classes: int = 10,
    shape: tuple[int, int, int] = (32, 32, 3),
    seed: int = 0,
) -> RawData:
    """Random images for tests and benchmarks: a fixed random pattern per class plus noise,
    so that a model can learn it."""
    rng = np.random.default_rng(seed)
    templates = rng.uniform(0, 255, size=(num_classes, *shape))
    labels = rng.integers(0, num_classes, size=num_samples).astype(np.int32)
    noise = rng.normal(0, 48, size=(num_samples, *shape))
    images = np.clip(0.5 * templates[labels] + 0.5 * 128 + noise, 0, 255).astype(np.uint8)
    return RawData(images, labels, [f"class_{i}" for i in range(num_classes)], source="synthetic")


# Data sets defined in their own modules register themselves on import.
from kerasnets.data import multilabel, segmentation, sequences  # noqa: E402, F401
