"""Small raw files in the real on-disk formats, for tests of the loaders.

* MNIST family: IDX files (big-endian magic 0x00000803 images / 0x00000801
  labels, then the dimensions), gzip-compressed, under the original names.
* CIFAR-10: `cifar-10-batches-py/` with dicts {"data": uint8 (N, 3072),
  "labels": [...]} per batch and `batches.meta` holding the label names, pickled
  as the distributed files were, by Python 2 (`python2_pickle`).
Images are class-dependent patterns plus noise, so a model can learn them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
from pathlib import Path

import numpy as np

MNIST_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}
CIFAR_LABELS = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
CIFAR_BATCHES = [
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
]


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _images(n: int, shape, seed: int):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    templates = np.random.default_rng(1234).integers(0, 256, size=(10, *shape))
    noise = rng.integers(-40, 40, size=(n, *shape))
    images = np.clip(templates[labels] + noise, 0, 255).astype(np.uint8)
    return images, labels.astype(np.uint8)


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of uint8 data, gzip-compressed."""
    magic = 0x0800 | array.ndim
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def make_mnist_raw(
    directory: Path, n_train: int = 600, n_test: int = 200, seed: int = 0
) -> dict[str, str]:
    """The four MNIST-family .gz files; returns their sha256 digests by name."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n, offset in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = _images(n, (28, 28), seed + offset)
        write_idx(directory / MNIST_NAMES[(split, "images")], images)
        write_idx(directory / MNIST_NAMES[(split, "labels")], labels)
    return {name: sha256(directory / name) for name in MNIST_NAMES.values()}


class _Python2Pickler(pickle._Pickler):
    """Pickles like Python 2's cPickle: every str and bytes as a byte string
    (SHORT_BINSTRING/BINSTRING) and numpy under its Python 2 module names."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_byte_string(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = _save_byte_string
    dispatch[bytes] = _save_byte_string

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", "") or ""
        if module.startswith("numpy._core"):
            old = module.replace("numpy._core", "numpy.core")
            name = name or obj.__qualname__
            self.write(pickle.GLOBAL + f"{old}\n{name}\n".encode())
            self.memoize(obj)
            return
        super().save_global(obj, name)


def python2_pickle(obj) -> bytes:
    """`obj` pickled as Python 2 pickled the distributed CIFAR-10 files."""
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def make_cifar_raw(
    directory: Path, n_per_batch: int = 100, seed: int = 0
) -> dict[str, str]:
    """`cifar-10-batches-py/` with six batches and the meta file, pickled as the
    distributed files are; returns their digests by name."""
    folder = Path(directory) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(CIFAR_BATCHES):
        images, labels = _images(n_per_batch, (3, 32, 32), seed + i)
        batch = {
            "batch_label": name,
            "labels": labels.tolist(),
            "data": images.reshape(n_per_batch, -1),
            "filenames": [f"{name}_{j}.png" for j in range(n_per_batch)],
        }
        (folder / name).write_bytes(python2_pickle(batch))
    meta = {"label_names": CIFAR_LABELS, "num_cases_per_batch": n_per_batch}
    (folder / "batches.meta").write_bytes(python2_pickle(meta))
    return {name: sha256(folder / name) for name in CIFAR_BATCHES + ["batches.meta"]}
