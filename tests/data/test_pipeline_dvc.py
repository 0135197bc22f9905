"""The data half through real `dvc repro`: the embedded sample end to end, a second repro that does
nothing, and the real clips in ../shared (faces found in every clip, no group on two sides)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from deepfake_detect.config import load_params

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"  # the one place defaults are written

pytestmark = pytest.mark.slow

TINY = {"n_actors": 3, "fakes_per_real": 1, "frames": 10, "fps": 10, "width": 240, "height": 180}


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def make_dvc_workspace(repo_root: Path, dest: Path, **overrides: dict) -> Path:
    """A git + DVC project holding this repo's pipeline definition and params (with overrides)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(repo_root / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(repo_root / name, dest / name)
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    for section, values in overrides.items():
        params[section] = {**params.get(section, {}), **values} if isinstance(values, dict) else values
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(["git", "init", "-q"], dest)
    _run(["dvc", "init", "-q"], dest)
    return dest


def test_embedded_sample_through_dvc_repro(repo_root: Path, tmp_path: Path):
    ws = make_dvc_workspace(repo_root, tmp_path / "ws", sample=TINY, extract={"frames_per_video": 3, "workers": 1})
    _run(["deepfake", "data", "sample"], ws)
    _run(["dvc", "add", "-q", "data/raw"], ws)
    assert (ws / "data" / "raw.dvc").exists()
    _run(["dvc", "repro", "validate_split"], ws)
    split = pd.read_csv(ws / "data/split/manifest.csv")
    assert {"path", "label", "group", "split"} <= set(split.columns)
    assert split.groupby("group")["split"].nunique().max() == 1
    assert (ws / "reports/validation/manifest/data_docs/index.html").exists()
    assert (ws / "reports/class_counts.csv").exists()
    again = _run(["dvc", "repro", "validate_split"], ws)
    assert "Running stage" not in again.stdout, again.stdout
    status = _run(["dvc", "status", "validate_split", "--with-deps"], ws)
    assert "up to date" in status.stdout


def test_every_shared_clip_yields_faces(shared_videos: Path, tmp_path: Path):
    from deepfake_detect.pipeline.extract import run_extract

    params = load_params(
        REPO_PARAMS,
        {
            "data": {"raw_dir": str(shared_videos)},
            "extract": {
                "frames_per_video": 4,
                "out_dir": str(tmp_path / "faces"),
                "parts_dir": str(tmp_path / "parts"),
                "manifest": str(tmp_path / "manifest.csv"),
                "rejects": str(tmp_path / "rejects.csv"),
            },
        },
    )
    manifest, rejects = run_extract(params)
    assert rejects.empty, rejects.to_string()
    per_clip = manifest.groupby("video").size()
    clips = sorted(p.name for p in shared_videos.glob("*.mp4"))
    assert sorted(per_clip.index) == clips
    assert (per_clip >= 3).all(), per_clip.to_string()  # a face in (nearly) every sampled frame
    # portrait DFDC clips keep their faces: boxes lie inside the original frame
    assert (manifest["x"] >= 0).all() and (manifest["y"] >= 0).all()


def test_deepfake_faces_layout_through_the_stages(shared_faces: Path, tmp_path: Path):
    """A 300-crop slice of deepfake-faces (symlinked, paired fakes included) to the split manifest."""
    from deepfake_detect.pipeline.balance import run_balance
    from deepfake_detect.pipeline.clean import run_clean
    from deepfake_detect.pipeline.extract import run_extract
    from deepfake_detect.pipeline.validate import run_validate

    meta = pd.read_csv(shared_faces / "metadata.csv")
    reals = meta[meta["label"] == "REAL"].head(60)
    fakes = meta[(meta["label"] == "FAKE") & meta["original"].isin(reals["videoname"])].head(240)
    subset = pd.concat([reals, fakes])
    raw = tmp_path / "raw"
    (raw / "faces_224").mkdir(parents=True)
    subset.to_csv(raw / "metadata.csv", index=False)
    for name in subset["videoname"]:
        stem = Path(name).stem
        (raw / "faces_224" / f"{stem}.jpg").symlink_to(shared_faces / "faces_224" / f"{stem}.jpg")
    r = tmp_path
    params = load_params(
        REPO_PARAMS,
        {
            "data": {"raw_dir": str(raw)},
            "extract": {
                "workers": 1,
                "out_dir": str(r / "faces"),
                "parts_dir": str(r / "parts"),
                "manifest": str(r / "manifest.csv"),
                "rejects": str(r / "rejects.csv"),
            },
            "validate": {
                "manifest_report": str(r / "rep/m"),
                "split_report": str(r / "rep/s"),
                "stats": str(r / "st.csv"),
            },
            "clean": {"manifest": str(r / "clean.csv"), "dropped": str(r / "dropped.csv")},
            "balance": {
                "manifest": str(r / "split.csv"),
                "class_counts": str(r / "counts.csv"),
                "synth_dir": str(r / "synth"),
            },
        },
    )
    manifest, rejects = run_extract(params)
    assert len(manifest) == len(subset) and rejects.empty
    assert (manifest["source"] == "deepfake_faces").all()
    assert manifest["confidence"].notna().all()
    # real face crops: the detector finds the face in nearly all (BlazeFace: 98.8% of all 12,500)
    assert (manifest["confidence"] >= params.extract.face_threshold).mean() > 0.9
    run_validate(params)
    kept, dropped = run_clean(params)
    assert len(kept) + len(dropped) == len(manifest) and len(kept) > 0.8 * len(manifest)
    split = run_balance(params)
    assert split.groupby("group")["split"].nunique().max() == 1
    # the leak the seed's random split has: siblings of test crops in training; here none
    test_groups = set(split.loc[split["split"] == "test", "group"])
    assert not test_groups & set(split.loc[split["split"] == "train", "group"])
    run_validate(params, split=True)
