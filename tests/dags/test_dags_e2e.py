"""Both DAGs end to end with dag.test() on the embedded sample: real DVC (a local folder as the
remote), real tiny training, SQLite metadata DB in a temp AIRFLOW_HOME. A drift event queues a
retrain run; a no-drift window does not."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TINY = {
    "sample": {"n_actors": 4, "fakes_per_real": 1, "frames": 10, "fps": 10, "width": 240, "height": 180},
    "extract": {"frames_per_video": 4, "workers": 1},
    "train": {"models": ["baseline_cnn"], "baseline_cnn": {"input_size": 48, "epochs": 1, "batch_size": 8}},
    "promote": {"embedding_samples": 16, "embedding_components": 4},
    "drift": {"reference_split": "train", "min_rows": 6, "reference_size": 100},
    "retrain": {"gate_min": 0.0, "retries": 0},
}


def _merge(base: dict, over: dict) -> dict:
    for k, v in over.items():
        base[k] = _merge(dict(base.get(k) or {}), v) if isinstance(v, dict) else v
    return base


def _env(home: Path, project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            # as `make airflow` and the compose stack run them: a paused DAG never gets queued by an Asset
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "DEEPFAKE_PROJECT_DIR": str(project),
            "DEEPFAKE_VENV": str(BIN.parent),
            "BENTOML_HOME": str(home / "bentoml"),
            "DVC_NO_ANALYTICS": "1",
            "DO_NOT_TRACK": "1",
            "BENTOML_DO_NOT_TRACK": "true",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        }
    )
    return env


def _sh(*cmd: str, cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
def test_retrain_and_monitor_dags_end_to_end(tmp_path):
    project, home, remote = tmp_path / "project", tmp_path / "airflow", tmp_path / "remote"
    project.mkdir()
    for name in ("src", "dags"):
        shutil.copytree(REPO / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", project)
    params = _merge(yaml.safe_load((REPO / "params.yaml").read_text()), TINY)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = _env(home, project)
    _sh("git", "init", "-q", cwd=project, env=env)
    _sh("dvc", "init", "-q", cwd=project, env=env)
    _sh("dvc", "remote", "add", "-d", "local", str(remote), cwd=project, env=env)
    _sh("deepfake", "data", "sample", "--out", "data/raw", cwd=project, env=env)
    _sh("dvc", "add", "-q", "data/raw", cwd=project, env=env)
    _sh("airflow", "db", "migrate", cwd=project, env=env)

    driver = Path(__file__).with_name("dags_e2e_driver.py")
    proc = subprocess.run(
        [sys.executable, str(driver), str(tmp_path / "shifted")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("E2E-RESULT ")]
    assert proc.returncode == 0 and lines, f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    out = json.loads(lines[-1].removeprefix("E2E-RESULT "))

    assert out["import_errors"] == {}
    assert out["window_crops"] >= 6
    retrain = out["retrain"]
    assert retrain["state"] == "success", retrain
    assert retrain["tasks"]["extract_part[0]"] == "success"
    for task in (
        "dvc_pull",
        "merge_parts",
        "validate",
        "repro",
        "evaluation_gate",
        "promote",
        "dvc_push",
        "notify_serving",
    ):
        assert retrain["tasks"][task] == "success", (task, retrain)
    assert (project / "dvc.lock").exists() and "promote" in (project / "dvc.lock").read_text()
    assert (project / "models/promoted/record.json").exists()
    assert any(remote.rglob("*")), "dvc push left the remote empty"

    again = out["retrain_again"]
    assert again["state"] == "success", again
    assert again["tasks"]["extract_part"] == "skipped" and again["tasks"]["merge_parts"] == "success", again

    quiet = out["monitor_quiet"]
    assert quiet["tasks"] == {"drift_report": "success", "emit_drift": "skipped"}, quiet
    assert quiet["queued"] == 0 and quiet["events"] == 0 and quiet["retrain_paused"] is False

    drift = out["monitor_drift"]
    assert drift["tasks"] == {"drift_report": "success", "emit_drift": "success"}, drift
    assert drift["events"] == 1 and drift["queued"] == 1
    extra = drift["extra"]
    assert extra["drift_detected"] is True and Path(extra["report_html"]).name.endswith(".html")
    assert "sharpness" in extra["drifted_columns"]
