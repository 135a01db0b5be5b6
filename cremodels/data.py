"""Datasets: verify raw files, prepare one compact tensor file, load it onto a device.

Preparation (`prepare_dataset`) is the only step that touches raw files or the
network. It runs once per dataset, in one workflow job, and writes
`<data.root>/prepared/<name>.pt` holding

* ``images``: uint8 tensor (N, C, H, W), pixel values 0..255,
* ``labels``: int64 tensor (N,),
* ``split``: uint8 tensor (N,), 0 = train, 1 = validation, 2 = test,

plus class names and the digests of the raw files it came from. Training jobs only
read that file (`load_prepared`), so parallel jobs never download and cannot race.

Raw files come from torchvision's on-disk formats (IDX gzip files for the MNIST
family, the pickled python batches for CIFAR-10) and are verified by checksum:
the published digests torchvision ships, digests of known repackagings (Debian's
`dataset-fashion-mnist` recompresses the originals, so its gunzipped content is
checked) and any extra digests the config lists under `data.sources.<name>.checksums`.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import pickle
import shutil
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cremodels.catalog import DATASETS
from cremodels.io import save_torch

log = logging.getLogger(__name__)

SPLIT_CODES = {"train": 0, "val": 1, "test": 2}

# torchvision dataset class behind each MNIST-family name.
MNIST_FAMILY = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}

# Digests of the gunzipped originals, for copies that were recompressed (Debian).
GUNZIPPED_SHA256 = {
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
        ),
        "train-labels-idx1-ubyte.gz": (
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
        ),
    },
}
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_FOLDER = "cifar-10-batches-py"


class DataError(RuntimeError):
    """Raw or prepared data that is missing, corrupt or of the wrong format."""


# ---------------------------------------------------------------- checksums


def _digests(path: Path) -> dict[str, str]:
    """md5 and sha256 of the file, and of its gunzipped content for .gz files."""
    raw = path.read_bytes()
    found = {
        "md5": hashlib.md5(raw).hexdigest(),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
    if path.name.endswith(".gz"):
        try:
            content = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(f"{path}: corrupt or truncated gzip file ({err})") from err
        found["gunzipped md5"] = hashlib.md5(content).hexdigest()
        found["gunzipped sha256"] = hashlib.sha256(content).hexdigest()
    return found


def expected_files(name: str) -> dict[str, set[str]]:
    """Raw file names of a dataset and the digests accepted for each.

    Digests are written "md5:<hex>" or "sha256:<hex>" and match the file as
    stored or, for .gz files, its gunzipped content.
    """
    from torchvision import datasets

    if name in MNIST_FAMILY:
        resources = getattr(datasets, MNIST_FAMILY[name]).resources
        accepted = {file: {f"md5:{md5}"} for file, md5 in resources}
        for file, sha in GUNZIPPED_SHA256.get(name, {}).items():
            accepted[file].add(f"sha256:{sha}")
        return accepted
    if name == "cifar10":
        batches = datasets.CIFAR10.train_list + datasets.CIFAR10.test_list
        accepted = {f"{CIFAR_FOLDER}/{file}": {f"md5:{md5}"} for file, md5 in batches}
        meta = datasets.CIFAR10.meta
        accepted[f"{CIFAR_FOLDER}/{meta['filename']}"] = {f"md5:{meta['md5']}"}
        return accepted
    raise ValueError(f"dataset {name!r} has no raw files")


def verify_file(path: Path, accepted: set[str]) -> str:
    """Check `path` against the accepted digests; return the digest that matched."""
    if not path.is_file():
        raise DataError(f"missing raw file {path}")
    found = _digests(path)
    for kind, value in found.items():
        algorithm = kind.split()[-1]
        if f"{algorithm}:{value}" in accepted:
            return f"{algorithm}:{value}"
    raise DataError(
        f"{path}: checksum mismatch (sha256 {found['sha256']}); accepted: "
        f"{', '.join(sorted(accepted))}. A corrupt, truncated or different file. "
        "If the file is intended, list its digest under "
        "data.sources.<dataset>.checksums in the config."
    )


def _with_extra_checksums(name, accepted: dict, extra: dict) -> dict:
    """Add the config's extra digests; a name that is not a raw file is an error."""
    for file, digest in extra.items():
        key = file
        if name == "cifar10" and not file.startswith(CIFAR_FOLDER):
            key = f"{CIFAR_FOLDER}/{file}"
        if key not in accepted:
            raise DataError(
                f"data.sources.{name}.checksums.{file}: not a raw file of "
                f"{name} (allowed: {', '.join(sorted(accepted))})"
            )
        accepted[key].add(digest)
    return accepted


# ---------------------------------------------------------------- raw files


def _missing_error(name: str, files, where: Path, raw_dir) -> DataError:
    listing = "\n  ".join(str(where / f) for f in files)
    hint = (
        f"data.sources.{name}.raw_dir (now {raw_dir!r}) to a directory that holds "
        f"them, or set data.download: true where the network is reachable"
    )
    if name == "fashion_mnist":
        hint += (
            " (on Debian: `apt-get install dataset-fashion-mnist` puts them in "
            "/usr/share/datasets/fashion-mnist)"
        )
    return DataError(
        f"{name}: raw files not found. Expected:\n  {listing}\nSet {hint}."
    )


def _check_idx(path: Path, ndim: int) -> tuple[int, ...]:
    """The shape an IDX file of unsigned bytes declares, after checking that its
    magic number says so and that exactly that many bytes follow the header."""
    content = gzip.decompress(path.read_bytes())
    magic = bytes([0, 0, 0x08, ndim])
    header = 4 + 4 * ndim
    if len(content) < header or content[:4] != magic:
        raise DataError(
            f"{path}: not an IDX file of unsigned bytes with {ndim} dimension(s) "
            f"(magic number {content[:4].hex() or 'missing'}, expected {magic.hex()})"
        )
    shape = struct.unpack(f">{ndim}I", content[4:header])
    if len(content) - header != math.prod(shape):
        raise DataError(
            f"{path}: the IDX header declares shape {shape} ({math.prod(shape)} "
            f"bytes) but {len(content) - header} bytes follow it; the file is "
            "truncated or corrupt"
        )
    return shape


def _check_cifar_file(path: Path) -> None:
    """A CIFAR-10 python batch (or batches.meta) as distributed: a dict pickled by
    Python 2, read the way torchvision reads it (latin-1 byte strings)."""
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
    except Exception as err:  # UnpicklingError, EOFError, ValueError, ...
        raise DataError(
            f"{path}: not a readable CIFAR-10 python batch "
            f"({type(err).__name__}: {err}); the file is truncated or corrupt"
        ) from err
    keys = sorted(map(repr, entry)) if isinstance(entry, dict) else None
    if path.name == "batches.meta":
        if keys is None or len(entry.get("label_names", [])) != 10:
            raise DataError(
                f"{path}: expected a dict with 10 'label_names', found "
                f"{keys or type(entry).__name__}"
            )
        return
    data = entry.get("data") if keys is not None else None
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == 3 * 32 * 32
        and len(entry.get("labels", [])) == len(data)
    ):
        raise DataError(
            f"{path}: expected a dict with 'data' (N, 3072) uint8 and N 'labels' "
            f"(pickled by Python 2, as distributed), found "
            f"{keys or type(entry).__name__}"
            + ("" if data is None else f" with data {getattr(data, 'shape', data)}")
        )


def _stage_mnist_family(name, root: Path, raw_dir, download, checksums) -> dict:
    """Put verified IDX files where torchvision's class reads them; return digests."""
    from torchvision import datasets

    cls = getattr(datasets, MNIST_FAMILY[name])
    raw = root / cls.__name__ / "raw"
    accepted = _with_extra_checksums(name, expected_files(name), checksums)
    if raw_dir is not None:
        source = Path(raw_dir)
        missing = [f for f in accepted if not (source / f).is_file()]
        if missing:
            raise _missing_error(name, missing, source, raw_dir)
        raw.mkdir(parents=True, exist_ok=True)
        for file in accepted:
            verify_file(source / file, accepted[file])
            shutil.copyfile(source / file, raw / file)
    elif not all((raw / f).is_file() for f in accepted):
        if not download:
            raise _missing_error(name, list(accepted), raw, raw_dir)
        try:
            cls(str(root), train=True, download=True)
        except Exception as err:  # torchvision raises RuntimeError/URLError
            raise DataError(
                f"{name}: download failed ({err}); "
                + str(_missing_error(name, list(accepted), raw, raw_dir))
            ) from err
    digests, counts = {}, {}
    for file, allowed in accepted.items():
        digests[file] = verify_file(raw / file, allowed)
        counts[file] = _check_idx(raw / file, 3 if "images" in file else 1)[0]
        unpacked = raw / file.removesuffix(".gz")
        with gzip.open(raw / file) as packed, open(unpacked, "wb") as out:
            shutil.copyfileobj(packed, out)
    for split in ("train", "t10k"):
        images = counts[f"{split}-images-idx3-ubyte.gz"]
        labels = counts[f"{split}-labels-idx1-ubyte.gz"]
        if images != labels:
            raise DataError(
                f"{name}: {raw / f'{split}-images-idx3-ubyte.gz'} holds {images} "
                f"images but {raw / f'{split}-labels-idx1-ubyte.gz'} {labels} labels"
            )
    return digests


def _stage_cifar10(root: Path, raw_dir, download, checksums) -> dict:
    """Put verified CIFAR-10 batches where torchvision's class reads them."""
    from torchvision import datasets

    accepted = _with_extra_checksums("cifar10", expected_files("cifar10"), checksums)
    if raw_dir is not None:
        source = Path(raw_dir)
        archive = source / CIFAR_ARCHIVE
        if archive.is_file():
            try:
                with tarfile.open(archive) as tar:
                    tar.extractall(root, filter="data")
            except (tarfile.TarError, OSError, EOFError) as err:
                raise DataError(
                    f"{archive}: corrupt or truncated archive ({err})"
                ) from err
        else:
            batches = (
                source / CIFAR_FOLDER if (source / CIFAR_FOLDER).is_dir() else None
            )
            if batches is None:
                files = [CIFAR_ARCHIVE] + [f"{CIFAR_FOLDER}/..."]
                raise _missing_error("cifar10", files, source, raw_dir)
            (root / CIFAR_FOLDER).mkdir(parents=True, exist_ok=True)
            for file in accepted:
                if (source / file).is_file():
                    shutil.copyfile(source / file, root / file)
    elif not all((root / f).is_file() for f in accepted):
        if not download:
            raise _missing_error("cifar10", list(accepted), root, raw_dir)
        try:
            datasets.CIFAR10(str(root), train=True, download=True)
        except Exception as err:
            raise DataError(
                f"cifar10: download failed ({err}); "
                + str(_missing_error("cifar10", list(accepted), root, raw_dir))
            ) from err
    missing = [f for f in accepted if not (root / f).is_file()]
    if missing:
        raise _missing_error("cifar10", missing, root, raw_dir)
    digests = {}
    for file, allowed in accepted.items():
        digests[file] = verify_file(root / file, allowed)
        _check_cifar_file(root / file)
    return digests


# ---------------------------------------------------------------- loaders


def _load_digits(split_seed: int):
    """scikit-learn's bundled 8x8 digits; a fixed, seeded, stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=split_seed
    )
    split = np.zeros(len(labels), dtype=np.uint8)
    split[test_idx] = SPLIT_CODES["test"]
    classes = [str(i) for i in range(10)]
    return images, labels, split, classes, {"sklearn.datasets.load_digits": "bundled"}


def _load_torchvision(name, root: Path, raw_dir, download, checksums):
    """Train and test splits through torchvision's dataset classes."""
    from torchvision import datasets

    if name in MNIST_FAMILY:
        digests = _stage_mnist_family(name, root, raw_dir, download, checksums)
        cls = getattr(datasets, MNIST_FAMILY[name])
        parts = [cls(str(root), train=train, download=False) for train in (True, False)]
        images = [p.data.numpy()[:, None] for p in parts]
    else:
        digests = _stage_cifar10(root, raw_dir, download, checksums)

        class VerifiedCIFAR10(datasets.CIFAR10):
            # Batches were verified above against torchvision's digests and the
            # config's extra ones; torchvision's own check knows only the former.
            def _check_integrity(self) -> bool:
                return True

            # batches.meta, too, was verified above (torchvision's loader would
            # accept only the published file).
            def _load_meta(self) -> None:
                path = root / CIFAR_FOLDER / self.meta["filename"]
                with open(path, "rb") as f:
                    self.classes = pickle.load(f, encoding="latin1")["label_names"]
                self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

        parts = [
            VerifiedCIFAR10(str(root), train=train, download=False)
            for train in (True, False)
        ]
        images = [np.ascontiguousarray(p.data.transpose(0, 3, 1, 2)) for p in parts]
    labels = [np.asarray(p.targets, dtype=np.int64) for p in parts]
    split = np.concatenate(
        [
            np.zeros(len(labels[0]), np.uint8),
            np.full(len(labels[1]), SPLIT_CODES["test"], np.uint8),
        ]
    )
    return (
        np.concatenate(images),
        np.concatenate(labels),
        split,
        list(parts[0].classes),
        digests,
    )


def prepare_dataset(
    name: str,
    *,
    root,
    out_path,
    raw_dir=None,
    download=False,
    checksums=None,
    val_fraction=0.1,
    split_seed=0,
) -> dict:
    """Verify raw files and write the compact tensor file of one dataset.

    Returns a summary (sizes per split, digests). Nothing is written to
    `out_path` unless every raw file passed its checksum and parsed.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if name == "digits":
        images, labels, split, classes, digests = _load_digits(split_seed)
    else:
        try:
            images, labels, split, classes, digests = _load_torchvision(
                name, root, raw_dir, download, checksums or {}
            )
        except DataError:
            raise
        except Exception as err:  # a parse error deep in torchvision
            raise DataError(
                f"{name}: raw files could not be read ({err!r}); "
                f"check the files under {root}"
            ) from err
    _validate_arrays(name, images, labels)

    # Hold out a seeded, stratified-by-chance share of the training split.
    rng = np.random.default_rng(split_seed)
    train_idx = np.flatnonzero(split == SPLIT_CODES["train"])
    n_val = max(1, round(val_fraction * len(train_idx)))
    split[rng.permutation(train_idx)[:n_val]] = SPLIT_CODES["val"]

    save_torch(
        out_path,
        {
            "name": name,
            "images": torch.from_numpy(images),
            "labels": torch.from_numpy(labels),
            "split": torch.from_numpy(split),
            "classes": classes,
            "raw_digests": digests,
        },
    )
    sizes = {part: int((split == code).sum()) for part, code in SPLIT_CODES.items()}
    log.info(
        "prepared %s: %s images of shape %s, %s",
        name,
        len(labels),
        tuple(images.shape[1:]),
        sizes,
    )
    return {
        "name": name,
        "sizes": sizes,
        "shape": list(images.shape[1:]),
        "raw_digests": digests,
    }


def _validate_arrays(name, images, labels) -> None:
    expected = tuple(DATASETS[name]["shape"])
    if images.dtype != np.uint8 or tuple(images.shape[1:]) != expected:
        raise DataError(
            f"{name}: images have shape {images.shape[1:]} and dtype "
            f"{images.dtype}, expected {expected} uint8"
        )
    if len(images) != len(labels):
        raise DataError(f"{name}: {len(images)} images but {len(labels)} labels")
    classes = DATASETS[name]["classes"]
    if labels.min() < 0 or labels.max() >= classes:
        raise DataError(f"{name}: labels outside 0..{classes - 1}")


# ---------------------------------------------------------------- prepared data


@dataclass
class Split:
    """One split on the training device: images in [0, 1] and labels."""

    x: torch.Tensor  # (N, C, H, W) float32
    y: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class PreparedData:
    name: str
    train: Split
    val: Split
    test: Split
    classes: list[str]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])


def load_prepared(path, device="cpu") -> PreparedData:
    """Read a prepared file and put every split on `device` as float in [0, 1]."""
    remedy = (
        f"make it again with `snakemake --cores 1 --force {path}` (and the study's "
        "--configfile, if any), which retrains nothing; deleting it instead "
        "retrains every run on this dataset"
    )
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        images, labels, split = blob["images"], blob["labels"], blob["split"]
    except Exception as err:
        raise DataError(
            f"{path}: not a readable prepared dataset ({err!r}); {remedy}"
        ) from err
    if not (len(images) == len(labels) == len(split)) or images.dtype != torch.uint8:
        raise DataError(f"{path}: images, labels and split do not match; {remedy}")
    parts = {}
    for part, code in SPLIT_CODES.items():
        mask = split == code
        if not mask.any():
            raise DataError(f"{path}: its {part} split is empty; {remedy}")
        # Normalise once, on the device, for the whole split.
        x = images[mask].to(device).float().div_(255.0)
        parts[part] = Split(x=x, y=labels[mask].to(device))
    return PreparedData(name=blob["name"], classes=list(blob["classes"]), **parts)
