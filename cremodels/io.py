"""Atomic file writes: a crash leaves the old file or the new one, never half of one.

Every output of the package is written to a temporary name in the same directory,
flushed to disk, then renamed over the target (`os.replace` is atomic on POSIX).
Reading one back that was damaged afterwards (a full disk, a copy cut short, a
hand edit) names the file and the way out.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

# numpy and torch are imported where used: the workflow imports this module while
# it plans, and planning should not pay for loading torch.


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Outputs get the permissions any new file would get (mkstemp makes them 0600).
FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; rename it to `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path, obj) -> None:
    write_text(
        path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n"
    )


def _jsonable(value):
    """numpy scalars and arrays, tensors and paths, as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


class DamagedFileError(RuntimeError):
    """An output file that exists but cannot be read back."""


@contextlib.contextmanager
def reading(path):
    """Turn a failure to parse `path` into an error that names it and the fix."""
    try:
        yield
    except (FileNotFoundError, MemoryError):  # missing or too big is not damaged
        raise
    except Exception as err:
        raise DamagedFileError(
            f"{path}: damaged or unreadable ({type(err).__name__}: {err}); delete "
            "it and rerun the workflow, which makes it again with the stage that "
            "wrote it"
        ) from err


def read_json(path):
    with reading(path), open(path) as f:
        return json.load(f)


def read_npz(path) -> dict:
    """Every array of an .npz file, read now (numpy reads them lazily)."""
    import numpy as np

    with reading(path), np.load(path) as saved:
        return {key: saved[key] for key in saved.files}


def load_torch(path, **kwargs):
    import torch

    with reading(path):
        return torch.load(path, **kwargs)


def save_torch(path, obj) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_npz(path, **arrays) -> None:
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def save_csv(path, frame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
