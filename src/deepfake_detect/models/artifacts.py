"""Writing a trained model folder (record.json + artifact) in the layout ``predictor.py`` reads."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from deepfake_detect.contracts.model import RECORD_FILE, ModelRecord


def git_rev(cwd: str | Path = ".") -> str:
    """Current git commit (``unknown`` outside a repository), with ``+dirty`` for local changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev.stdout.strip() + ("+dirty" if dirty else "")


def data_version(folder: str | Path) -> str:
    """DVC's own content hash of ``folder`` (``<md5>.dir``, what ``dvc add`` writes in a ``.dvc`` file), so
    a record names the data it was made from wherever ``data.raw_dir`` points; ``absent`` when missing."""
    from dvc_data.hashfile.build import build  # dvc's hashing library: the same hash, never a second scheme
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    path = Path(folder)
    if not path.exists():
        return "absent"
    fs = LocalFileSystem()
    with tempfile.TemporaryDirectory() as scratch:
        *_, obj = build(HashFileDB(fs, scratch), str(path.resolve()), fs, "md5", dry_run=True)
    return str(obj.hash_info.value)


def write_record(folder: Path, **fields: Any) -> ModelRecord:
    """Write a trained model's ``record.json`` (atomically): creation time, git revision and data
    version filled in; threshold 0.5 and no metrics until evaluate picks a threshold on val."""
    made = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_rev": git_rev(),
        "data_version": "unknown",  # the train stage names the data (data_version of data.raw_dir)
        "threshold": 0.5,
        "metrics": {},
    }
    record = ModelRecord(**{**made, **fields})
    record.write(folder / RECORD_FILE)
    return record


def write_untrained_record(folder: Path, **fields: Any) -> ModelRecord:
    """``record.json`` of a model built but never trained (test fixtures, benches): no training facts."""
    return write_record(folder, **{"params": {}, "train_seconds": 0.0, "n_train": 0, "n_val": 0, **fields})


def save_untrained_keras(model, folder: Path, *, name: str, tag: str, input_size: int, **fields: Any) -> Path:
    """A Keras model built but never trained, as a model folder (its pooled features at layer ``pooled``)."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    write_untrained_record(
        folder,
        **{"name": name, "tag": tag, "family": "keras", "artifact": "model.keras", "input_size": input_size},
        **{"embedding_layer": "pooled", **fields},
    )
    return folder


def write_curves(rows: list[dict[str, Any]], path: Path, columns: list[str] | None = None) -> None:
    """Training curves (one row per epoch) as CSV for ``dvc plots`` (``columns``: the header of no rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
