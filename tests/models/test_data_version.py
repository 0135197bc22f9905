"""A model's record names the data it was trained on: DVC's own content hash of ``data.raw_dir`` and
that path, whatever folder ``data.raw_dir`` points at (never the ``data.dvc`` of another folder)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from deepfake_detect.models.artifacts import data_version
from deepfake_detect.models.predictor import read_record
from deepfake_detect.pipeline.train import run_train


def _folder(root: Path, salt: str) -> Path:
    folder = root / "faces"
    (folder / "sub").mkdir(parents=True)
    (folder / "metadata.csv").write_text(f"videoname,label\n{salt}.jpg,FAKE\n")
    (folder / "sub" / "a.bin").write_bytes(bytes(range(256)) * 3)
    return folder


def _dvc_add(folder: Path) -> str:
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=folder.parent, check=True, timeout=120)
    subprocess.run([dvc, "add", "-q", folder.name], cwd=folder.parent, check=True, timeout=120)
    return yaml.safe_load((folder.parent / f"{folder.name}.dvc").read_text())["outs"][0]["md5"]


def test_data_version_is_dvcs_own_hash_of_the_folder(tmp_path):
    folder = _folder(tmp_path, "x")
    first = data_version(folder)
    assert first == _dvc_add(folder) and first.endswith(".dir")  # what `dvc add` records: comparable
    (folder / "metadata.csv").write_text("videoname,label\ny.jpg,REAL\n")
    assert data_version(folder) != first
    assert data_version(tmp_path / "nowhere") == "absent"


def test_a_trained_record_names_the_data_raw_dir_it_was_trained_on(tmp_path, split_manifest, make_params, monkeypatch):
    elsewhere = _folder(tmp_path / "elsewhere", "z")
    p = make_params(tmp_path, split_manifest)
    p = p.model_copy(update={"data": p.data.model_copy(update={"raw_dir": elsewhere})})
    monkeypatch.chdir(tmp_path)  # no data.dvc here, and none would be read
    run_train(p, "sklearn_fft")
    record = read_record(p.train.models_dir / "sklearn_fft")
    assert record.data_path == str(elsewhere)
    assert record.data_version == data_version(elsewhere) != "unversioned"
