"""Every DAG file imports cleanly without a metadata database, and the DAGs have the promised shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _parse(tmp_path: Path, params: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # a database that cannot exist: any query at parse time raises and shows up as an import error
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'missing' / 'dir' / 'airflow.db'}",
            "DEEPFAKE_PROJECT_DIR": str(params.parent if params else REPO),
        }
    )
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("dag_parse_probe.py"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("PARSE-RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    assert not (tmp_path / "missing").exists(), "parsing the DAGs created a database"
    return json.loads(lines[-1].removeprefix("PARSE-RESULT "))


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    return _parse(tmp_path_factory.mktemp("parse"))


def test_dag_files_import_without_errors(parsed):
    assert parsed["errors"] == {}
    assert set(parsed["dags"]) == {"deepfake_retrain", "deepfake_monitor"}


def test_retrain_dag_shape(parsed):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    dag = parsed["dags"]["deepfake_retrain"]
    assert dag["max_active_runs"] == 1 and dag["catchup"] is False
    assert "AssetOrTimeSchedule" in dag["schedule"] and params["drift"]["asset"] in dag["schedule"]
    tasks = dag["tasks"]
    assert tasks["extract_part"]["mapped"] is True
    assert all(t["retries"] == params["retrain"]["retries"] and t["callback"] for t in tasks.values())
    up = dag["upstream"]
    assert up["parts_to_extract"] == ["dvc_pull"] and up["extract_part"] == ["parts_to_extract"]
    assert up["merge_parts"] == ["extract_part", "parts_to_extract"]
    assert up["validate"] == ["merge_parts"] and up["repro"] == ["validate"]
    assert up["evaluation_gate"] == ["repro"] and up["promote"] == ["evaluation_gate"]
    assert up["dvc_push"] == ["promote"] and up["notify_serving"] == ["dvc_push", "promote"]


def test_retrain_on_drift_waits_for_labels_the_served_model_has_not_seen(parsed):
    """check_labels decides; retrain_wanted short-circuits the whole pipeline when a drift event brings no
    new labels, and labels_needed then publishes the labels Asset (with the queue size) instead."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    dag = parsed["dags"]["deepfake_retrain"]
    up = dag["upstream"]
    assert up["retrain_wanted"] == ["check_labels"] and up["labels_needed"] == ["check_labels"]
    assert up["version_feedback"] == ["check_labels", "retrain_wanted"] and up["dvc_pull"] == ["version_feedback"]
    assert dag["tasks"]["labels_needed"]["outlets"] == [params["retrain"]["labels_asset"]]
    assert all(not t["outlets"] for name, t in dag["tasks"].items() if name != "labels_needed")


def test_monitor_dag_shape(parsed):
    dag = parsed["dags"]["deepfake_monitor"]
    assert dag["max_active_runs"] == 1 and "0 0 * * *" in dag["schedule"]
    assert dag["tasks"]["emit_drift"]["outlets"] == ["deepfake_drift"]
    assert dag["tasks"]["drift_report"]["outlets"] == []


def test_schedules_follow_params(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["retrain"]["schedule"] = None
    params["drift"]["schedule"] = "0 6 * * *"
    params["drift"]["asset"] = "drift_events"
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    dags = _parse(tmp_path, project / "params.yaml")["dags"]
    assert "AssetTriggeredTimetable" in dags["deepfake_retrain"]["schedule"]
    assert "drift_events" in dags["deepfake_retrain"]["schedule"]
    assert "0 6 * * *" in dags["deepfake_monitor"]["schedule"]
    assert dags["deepfake_monitor"]["tasks"]["emit_drift"]["outlets"] == ["drift_events"]


def test_every_task_of_both_dags_has_an_execution_timeout(parsed):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    expected = {"deepfake_retrain": params["retrain"]["timeout_s"], "deepfake_monitor": params["drift"]["timeout_s"]}
    for dag_id, timeout in expected.items():
        tasks = parsed["dags"][dag_id]["tasks"]
        assert {t["timeout_s"] for t in tasks.values()} == {timeout}, (dag_id, tasks)
