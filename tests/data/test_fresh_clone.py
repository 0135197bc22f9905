"""The README's real-data command on a fresh ``git clone``: ``dvc exp run -S data.raw_dir=…`` runs extract
on the given data with nothing but the tracked files — no ``make demo`` before it, so no ``data/feedback``
(the reviewers' labels, extract's second source) and no DVC cache. The feedback stage of dvc.yaml makes
the folder when absent; then labels added to it re-run extract on the next ``dvc repro``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(*cmd: str, cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def _committed_copy(dest: Path, env: dict[str, str]) -> Path:
    """This checkout's tracked files (as they are in the working tree) committed into a new repository."""
    dest.mkdir()
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    for name in tracked.stdout.split("\0"):
        if name and (REPO / name).is_file():  # a file deleted in the working tree is not copied
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    _run("git", "init", "-q", cwd=dest, env=env)
    _run("git", "add", "-A", cwd=dest, env=env)
    _run("git", "commit", "-q", "-m", "the project", cwd=dest, env=env)
    return dest


def test_real_data_command_runs_extract_on_a_fresh_clone(tmp_path, tiny_sample):
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    origin = _committed_copy(tmp_path / "origin", env)
    clone = tmp_path / "clone"
    _run("git", "clone", "-q", str(origin), str(clone), cwd=tmp_path, env=env)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    feedback = clone / params["data"]["feedback_dir"]
    assert not feedback.exists() and not (clone / ".dvc" / "cache").exists()

    settings = ["-S", f"data.raw_dir={tiny_sample}", "-S", "extract.frames_per_video=3", "-S", "extract.workers=1"]
    _run("dvc", "exp", "run", *settings, "extract", cwd=clone, env=env)
    manifest = clone / params["extract"]["manifest"]
    assert manifest.exists() and len(manifest.read_text().splitlines()) > 1, "extract wrote no crop"
    assert feedback.is_dir() and not any(feedback.iterdir())  # made empty: no labels yet
    assert "didn't change" in _run("dvc", "repro", "extract", cwd=clone, env=env)

    # a reviewer's label lands in the folder: `dvc repro feedback` (the retrain DAG's version_feedback,
    # docs/review.md) records it in dvc.lock, and extract runs again on the next `dvc repro`
    (feedback / "metadata.csv").write_text("videoname,original_width,original_height,label,original\n")
    _run("dvc", "repro", "feedback", cwd=clone, env=env)
    lock = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    assert lock["feedback"]["outs"][0]["nfiles"] == 1
    assert (feedback / "metadata.csv").exists()  # persist: the stage never deletes the labels
    out = _run("dvc", "repro", "extract", cwd=clone, env=env)
    assert "Running stage 'extract'" in out, out[-2000:]
