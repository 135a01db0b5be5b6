"""The MNIST, FashionMNIST and CIFAR-10 loaders on small files in the real on-disk
formats, pixel for pixel, and clear errors for damaged files.

* MNIST family: gzip-compressed IDX files (`tests.fakedata.write_idx`).
* CIFAR-10: `cifar-10-batches-py/` with dicts pickled as the distributed files
  are, by Python 2 (protocol 2, every string a byte string; numpy arrays through
  `numpy.core.multiarray._reconstruct`), loose or packed in
  `cifar-10-python.tar.gz`.
"""

import gzip
import pickle
import tarfile

import numpy as np
import pytest
import torch

from cremodels.data import DataError, load_prepared, prepare_dataset
from tests.fakedata import (
    CIFAR_BATCHES,
    CIFAR_LABELS,
    MNIST_NAMES,
    python2_pickle,
    sha256,
    write_idx,
)

# ---------------------------------------------------------------- writers


def _write_mnist(directory, n_train=60, n_test=20, seed=0):
    """The four IDX files; returns their digests and the arrays written."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        arrays[(split, "images")] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[(split, "labels")] = rng.integers(0, 10, n, dtype=np.uint8)
    for key, array in arrays.items():
        write_idx(directory / MNIST_NAMES[key], array)
    digests = {name: sha256(directory / name) for name in MNIST_NAMES.values()}
    return digests, arrays


def _write_cifar(directory, n_per_batch=10, seed=0):
    """`cifar-10-batches-py/` with the six batches and batches.meta; returns the
    digests (by file name) and the data rows and labels of every batch."""
    folder = directory / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    batches = {}
    for name in CIFAR_BATCHES:
        rows = rng.integers(0, 256, (n_per_batch, 3 * 32 * 32), dtype=np.uint8)
        labels = rng.integers(0, 10, n_per_batch).tolist()
        batches[name] = (rows, labels)
        entry = {
            "batch_label": f"{name} (test fixture)",
            "labels": labels,
            "data": rows,
            "filenames": [f"{name}_{i}.png" for i in range(n_per_batch)],
        }
        (folder / name).write_bytes(python2_pickle(entry))
    meta = {"label_names": CIFAR_LABELS, "num_cases_per_batch": n_per_batch}
    (folder / "batches.meta").write_bytes(python2_pickle(meta))
    names = CIFAR_BATCHES + ["batches.meta"]
    return {name: sha256(folder / name) for name in names}, batches


def _prepare(name, tmp_path, raw, checksums):
    return prepare_dataset(
        name,
        root=tmp_path / "data",
        raw_dir=raw,
        checksums=checksums,
        out_path=tmp_path / "prepared.pt",
    )


# ---------------------------------------------------------------- MNIST family


@pytest.mark.parametrize(
    ("dataset", "first_class"),
    [("mnist", "0 - zero"), ("fashion_mnist", "T-shirt/top")],
)
def test_idx_files_load_pixel_for_pixel(tmp_path, dataset, first_class):
    digests, arrays = _write_mnist(tmp_path / "raw")
    summary = _prepare(dataset, tmp_path, tmp_path / "raw", digests)
    assert summary["sizes"] == {"train": 54, "val": 6, "test": 20}

    blob = torch.load(tmp_path / "prepared.pt", weights_only=True)
    images = np.concatenate([arrays[("train", "images")], arrays[("test", "images")]])
    labels = np.concatenate([arrays[("train", "labels")], arrays[("test", "labels")]])
    assert torch.equal(blob["images"], torch.from_numpy(images[:, None]))
    assert torch.equal(blob["labels"], torch.from_numpy(labels.astype(np.int64)))
    assert (blob["split"][60:] == 2).all() and (blob["split"][:60] < 2).all()
    assert blob["classes"][0] == first_class and len(blob["classes"]) == 10

    data = load_prepared(tmp_path / "prepared.pt")
    assert data.input_shape == (1, 28, 28)
    assert data.test.x[0, 0, 5, 7].item() == pytest.approx(images[60, 5, 7] / 255)


def test_truncated_gzip_is_a_clear_error_even_with_its_digest_listed(tmp_path):
    raw = tmp_path / "raw"
    digests, _ = _write_mnist(raw)
    labels = raw / MNIST_NAMES[("test", "labels")]
    labels.write_bytes(labels.read_bytes()[:-12])
    digests[labels.name] = sha256(labels)
    with pytest.raises(DataError, match="corrupt or truncated gzip") as info:
        _prepare("fashion_mnist", tmp_path, raw, digests)
    assert labels.name in str(info.value)
    assert not (tmp_path / "prepared.pt").exists()


def test_idx_file_shorter_than_its_header_declares(tmp_path):
    raw = tmp_path / "raw"
    digests, arrays = _write_mnist(raw)
    images = raw / MNIST_NAMES[("train", "images")]
    content = gzip.decompress(images.read_bytes())
    with gzip.open(images, "wb") as f:  # a valid gzip of a cut-off IDX file
        f.write(content[:-100])
    digests[images.name] = sha256(images)
    with pytest.raises(DataError) as info:
        _prepare("mnist", tmp_path, raw, digests)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert "declares shape (60, 28, 28) (47040 bytes) but 46940 bytes" in message
    assert "truncated or corrupt" in message


def test_file_that_is_not_idx(tmp_path):
    raw = tmp_path / "raw"
    digests, _ = _write_mnist(raw)
    labels = raw / MNIST_NAMES[("train", "labels")]
    with gzip.open(labels, "wb") as f:
        f.write(b"<html>Not Found</html>")  # what a failed download may leave
    digests[labels.name] = sha256(labels)
    with pytest.raises(
        DataError, match=r"train-labels-idx1-ubyte.gz: not an IDX file .* expected"
    ):
        _prepare("mnist", tmp_path, raw, digests)


def test_images_and_labels_that_do_not_pair_up(tmp_path):
    raw = tmp_path / "raw"
    digests, _ = _write_mnist(raw)
    labels = raw / MNIST_NAMES[("test", "labels")]
    write_idx(labels, np.zeros(19, dtype=np.uint8))
    digests[labels.name] = sha256(labels)
    with pytest.raises(DataError, match="holds 20 images but .* 19 labels"):
        _prepare("mnist", tmp_path, raw, digests)


# ---------------------------------------------------------------- CIFAR-10


def _expected_cifar(batches):
    rows = np.concatenate([batches[name][0] for name in CIFAR_BATCHES])
    labels = np.concatenate([batches[name][1] for name in CIFAR_BATCHES])
    return rows, labels


def _check_cifar_prepared(path, batches, n_per_batch):
    blob = torch.load(path, weights_only=True)
    rows, labels = _expected_cifar(batches)
    # rows hold 1024 red, then 1024 green, then 1024 blue values, row by row
    assert torch.equal(blob["images"], torch.from_numpy(rows.reshape(-1, 3, 32, 32)))
    assert torch.equal(blob["labels"], torch.from_numpy(labels.astype(np.int64)))
    assert (blob["split"][5 * n_per_batch :] == 2).all()
    assert blob["classes"] == CIFAR_LABELS


def test_cifar_batches_load_pixel_for_pixel(tmp_path):
    digests, batches = _write_cifar(tmp_path / "raw")
    summary = _prepare("cifar10", tmp_path, tmp_path / "raw", digests)
    assert summary["sizes"] == {"train": 45, "val": 5, "test": 10}
    assert summary["shape"] == [3, 32, 32]
    _check_cifar_prepared(tmp_path / "prepared.pt", batches, 10)


def test_cifar_archive_loads_pixel_for_pixel(tmp_path):
    digests, batches = _write_cifar(tmp_path / "loose")
    (tmp_path / "raw").mkdir()
    with tarfile.open(tmp_path / "raw" / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "loose" / "cifar-10-batches-py", "cifar-10-batches-py")
    _prepare("cifar10", tmp_path, tmp_path / "raw", digests)
    _check_cifar_prepared(tmp_path / "prepared.pt", batches, 10)


def test_truncated_cifar_batch_fails_its_checksum(tmp_path):
    digests, _ = _write_cifar(tmp_path / "raw")
    batch = tmp_path / "raw" / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:1000])
    with pytest.raises(DataError, match="data_batch_3: checksum mismatch"):
        _prepare("cifar10", tmp_path, tmp_path / "raw", digests)


def test_truncated_cifar_batch_that_its_listed_digest_accepts(tmp_path):
    digests, _ = _write_cifar(tmp_path / "raw")
    batch = tmp_path / "raw" / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes()[:1000])
    digests["test_batch"] = sha256(batch)
    with pytest.raises(DataError) as info:
        _prepare("cifar10", tmp_path, tmp_path / "raw", digests)
    message = str(info.value)
    assert "cifar-10-batches-py/test_batch: not a readable CIFAR-10 python batch" in (
        message
    )
    assert "truncated or corrupt" in message
    assert not (tmp_path / "prepared.pt").exists()


def test_cifar_batch_pickled_with_python3_bytes_keys(tmp_path):
    """What `pickle.load(f, encoding="bytes")` returns, pickled again by Python 3:
    not the distributed format, and named as such."""
    digests, batches = _write_cifar(tmp_path / "raw")
    batch = tmp_path / "raw" / "cifar-10-batches-py" / "data_batch_1"
    rows, labels = batches["data_batch_1"]
    batch.write_bytes(pickle.dumps({b"data": rows, b"labels": labels}))
    digests["data_batch_1"] = sha256(batch)
    with pytest.raises(DataError, match=r"data_batch_1: expected a dict with 'data'"):
        _prepare("cifar10", tmp_path, tmp_path / "raw", digests)


def test_truncated_cifar_archive(tmp_path):
    digests, _ = _write_cifar(tmp_path / "loose")
    archive = tmp_path / "raw" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "loose" / "cifar-10-batches-py", "cifar-10-batches-py")
    archive.write_bytes(archive.read_bytes()[:2000])
    with pytest.raises(DataError, match="cifar-10-python.tar.gz: corrupt or truncated"):
        _prepare("cifar10", tmp_path, tmp_path / "raw", digests)


def test_cifar_folder_without_its_meta_file(tmp_path):
    digests, _ = _write_cifar(tmp_path / "raw")
    (tmp_path / "raw" / "cifar-10-batches-py" / "batches.meta").unlink()
    with pytest.raises(DataError, match="raw files not found") as info:
        _prepare("cifar10", tmp_path, tmp_path / "raw", digests)
    assert "cifar-10-batches-py/batches.meta" in str(info.value)
    assert "data.sources.cifar10.raw_dir" in str(info.value)
