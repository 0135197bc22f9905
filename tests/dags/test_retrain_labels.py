"""deepfake_retrain on a drift event: retrains only with labels the served model has not seen; without
them it logs the review queue's size and publishes the labels Asset instead. The schedule still retrains."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from deepfake_detect.config import load_params
from deepfake_detect.faces.clip import FaceCrop
from deepfake_detect.scoring.feedback import label_item
from deepfake_detect.scoring.review import ReviewQueue

REPO = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["serve"]["review"].update(keep_crops=True, margin=0.5, on_drift=False)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def _probe(tmp_path: Path, project: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'missing' / 'airflow.db'}",
            "DEEPFAKE_PROJECT_DIR": str(project),
            "DEEPFAKE_VENV": str(Path(sys.executable).parent.parent),
        }
    )
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("labels_probe.py"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("LABELS-RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("LABELS-RESULT "))


def test_drift_without_new_labels_publishes_labels_needed_instead_of_retraining(tmp_path, monkeypatch):
    project = _project(tmp_path)
    monkeypatch.chdir(project)
    params = load_params(project / "params.yaml")
    queue = ReviewQueue(params)
    crop = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    kept = [
        queue.consider(
            request_id=f"r{i}",
            endpoint="score_image",
            file=f"{i}.jpg",
            model_tag="m:1",
            threshold=0.5,
            score=0.6,
            faces=[FaceCrop(None, 0, (0, 0, 64, 64), 0.9, crop, 0, 0.6)],
        )
        for i in range(3)
    ]

    out = _probe(tmp_path, project)
    drift, schedule = out["drift"], out["schedule"]
    assert drift["retrain"] is False and drift["labels_needed"].startswith("labels needed: 3 waiting")
    assert drift["asset"] == params.retrain.labels_asset
    assert drift["published"]["waiting"] == 3 and drift["published"]["new_labels"] == 0
    assert schedule["retrain"] is True and schedule["labels_needed"] == "skipped" and schedule["published"] is None

    label_item(params, kept[0].id, "FAKE")  # a person labels one: now a drift run has something to learn
    drift = _probe(tmp_path, project)["drift"]
    assert drift["retrain"] is True and drift["labels_needed"] == "skipped"
