"""Data preparation: the embedded digits, real FashionMNIST when present, and the
errors for missing or damaged raw files."""

from pathlib import Path

import pytest
import torch

from cremodels.data import DataError, load_prepared, prepare_dataset
from tests.fakedata import MNIST_NAMES, make_mnist_raw

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_digits_split_is_fixed_and_complete(tmp_path):
    prepare_dataset("digits", root=tmp_path, out_path=tmp_path / "a.pt")
    prepare_dataset("digits", root=tmp_path, out_path=tmp_path / "b.pt")
    a = torch.load(tmp_path / "a.pt", weights_only=True)
    b = torch.load(tmp_path / "b.pt", weights_only=True)
    assert torch.equal(a["split"], b["split"]) and torch.equal(a["images"], b["images"])
    assert a["images"].dtype == torch.uint8 and a["images"].shape == (1797, 1, 8, 8)
    assert a["images"].max() == 255
    data = load_prepared(tmp_path / "a.pt")
    assert (len(data.train), len(data.val), len(data.test)) == (1293, 144, 360)
    assert 0.0 <= data.train.x.min() and data.train.x.max() <= 1.0


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "not a readable prepared dataset"),
        ("short_labels", "images, labels and split do not match"),
        ("no_test", "its test split is empty"),
    ],
)
def test_damaged_prepared_file_names_the_problem(tmp_path, damage, message):
    path = tmp_path / "p.pt"
    prepare_dataset("digits", root=tmp_path, out_path=path)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        blob = torch.load(path, weights_only=True)
        if damage == "short_labels":
            blob["labels"] = blob["labels"][:-1]
        else:
            blob["split"][blob["split"] == 2] = 0  # test rows become training rows
        torch.save(blob, path)
    remedy = f"snakemake --cores 1 --force {path}`.*retrains nothing"
    with pytest.raises(DataError, match=f"{path}: {message}.*{remedy}"):
        load_prepared(path)


def test_missing_raw_files_name_files_and_config_keys(tmp_path):
    with pytest.raises(DataError) as info:
        prepare_dataset("mnist", root=tmp_path, out_path=tmp_path / "m.pt")
    message = str(info.value)
    for name in MNIST_NAMES.values():
        assert str(tmp_path / "MNIST" / "raw" / name) in message
    assert "data.sources.mnist.raw_dir" in message and "data.download" in message
    assert not (tmp_path / "m.pt").exists()


def test_fake_mnist_loads_through_torchvision(tmp_path):
    digests = make_mnist_raw(tmp_path / "raw")
    summary = prepare_dataset(
        "mnist",
        root=tmp_path / "data",
        raw_dir=tmp_path / "raw",
        checksums=digests,
        out_path=tmp_path / "m.pt",
    )
    assert summary["sizes"] == {"train": 540, "val": 60, "test": 200}
    data = load_prepared(tmp_path / "m.pt")
    assert data.input_shape == (1, 28, 28)


def test_unknown_file_fails_its_checksum(tmp_path):
    make_mnist_raw(tmp_path / "raw")
    with pytest.raises(DataError, match="checksum mismatch"):
        prepare_dataset(
            "mnist",
            root=tmp_path / "data",
            raw_dir=tmp_path / "raw",
            out_path=tmp_path / "m.pt",
        )
    assert not (tmp_path / "m.pt").exists()


def test_truncated_gzip_is_reported(tmp_path):
    digests = make_mnist_raw(tmp_path / "raw")
    images = tmp_path / "raw" / MNIST_NAMES[("train", "images")]
    images.write_bytes(images.read_bytes()[:5000])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        prepare_dataset(
            "mnist",
            root=tmp_path / "data",
            raw_dir=tmp_path / "raw",
            checksums=digests,
            out_path=tmp_path / "m.pt",
        )
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(), reason="needs Debian's dataset-fashion-mnist package"
)
def test_real_fashion_mnist_from_debian_files(tmp_path):
    summary = prepare_dataset(
        "fashion_mnist",
        root=tmp_path,
        raw_dir=DEBIAN_FASHION,
        out_path=tmp_path / "f.pt",
    )
    assert summary["sizes"] == {"train": 54000, "val": 6000, "test": 10000}
    assert all(d.startswith("sha256:") for d in summary["raw_digests"].values())
