"""LOCK CHECK: the committed ``dvc.lock`` agrees with the committed code and params, so ``dvc status`` on a
fresh clone names no changed code dependency or param (outputs and data not yet pulled are fine) and
``dvc pull`` fetches what the branch describes. It fails when a change to a stage's code or params lands
without its ``dvc.lock``: run ``dvc repro`` (or ``dvc commit`` after checking the outputs) and commit the
lock with the change. Marked ``lock``: ``pytest -m lock`` runs it alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CODE = ("src/", "dags/", "serving/")  # the deps that are code; data deps (data/raw, ...) may be absent


@pytest.mark.lock
def test_dvc_lock_agrees_with_the_code_and_params():
    dvc = str(Path(sys.executable).parent / "dvc")
    proc = subprocess.run([dvc, "status", "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    stale = {}
    for stage, changes in json.loads(proc.stdout or "{}").items():
        for change in changes if isinstance(changes, list) else []:
            if not isinstance(change, dict):
                continue
            for dep, why in (change.get("changed deps") or {}).items():
                if dep.startswith(CODE) or isinstance(why, dict):  # a dict: the params of a params file
                    stale.setdefault(stage, {})[dep] = why
    assert not stale, (
        "dvc.lock does not match the committed code/params (run `dvc repro` or `dvc commit` and commit dvc.lock):\n"
        + json.dumps(stale, indent=1)[:4000]
    )
