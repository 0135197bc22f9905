"""`make airflow` for real: scripts/airflow-local.sh starts PostgreSQL and Airflow 3 (LocalExecutor,
parallelism >= 2); deepfake_retrain is triggered through the REST API on a two-part copy of the
embedded sample. The two mapped extract tasks must overlap in time, the merged manifest must equal
that of one `dvc repro extract` over the same folder, and `stop` must leave no process behind.

The project copy's dvc.yaml ends at validate_split (feedback, extract, validate, clean, balance,
validate_split): training and promotion are covered by test_dags_e2e.py and would triple the run
here. The DAG itself is unchanged: it skips the gate and promote when dvc.yaml has no such stage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml
from airflow_kit import (
    PG_INSTALL,
    SCRIPT,
    Api,
    free_port,
    leftovers,
    listening,
    pg_available,
    roots,
    sh,
    task_logs,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STAGES = ("feedback", "extract", "validate", "clean", "balance", "validate_split")
PARTS = ("dfdc_train_part_0", "dfdc_train_part_1")
TINY = {
    "sample": {"n_actors": 4, "fakes_per_real": 1, "frames": 10, "fps": 10, "width": 240, "height": 180},
    "extract": {"frames_per_video": 4, "workers": 1},
    "retrain": {"schedule": None, "retries": 0},  # runs only when triggered: no scheduled run competes
    "drift": {"schedule": None},
}
DONE = ("success", "failed")


def _two_part_sample(project: Path, env: dict[str, str]) -> None:
    """The embedded sample split into two DFDC part folders, every FAKE in the other part than its
    original (the groups must still come out the same when each part is extracted alone)."""
    flat = project / "sample"
    sh("deepfake", "data", "sample", "--out", str(flat), cwd=project, env=env)
    meta = json.loads((flat / "metadata.json").read_text())
    reals = sorted(v for v, rec in meta.items() if rec["label"] == "REAL")
    side = {v: i % 2 for i, v in enumerate(reals)}
    parts: list[dict] = [{}, {}]
    for video, rec in meta.items():
        parts[side[video] if rec["label"] == "REAL" else 1 - side[rec["original"]]][video] = rec
    for name, part in zip(PARTS, parts, strict=True):
        folder = project / "data" / "raw" / name
        folder.mkdir(parents=True)
        for video in part:
            shutil.copy(flat / video, folder / video)
        (folder / "metadata.json").write_text(json.dumps(part, indent=1))
    shutil.rmtree(flat)


def _project(project: Path, env: dict[str, str]) -> None:
    """A DVC project with the package's stages up to validate_split and the tiny params."""
    project.mkdir()
    shutil.copytree(REPO / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": {s: stages[s] for s in STAGES}}, sort_keys=False))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in TINY.items():
        params[section] = {**params[section], **values}
    params["dags"]["task_env"] = [*params["dags"]["task_env"], "PYTHONPATH"]  # the tasks run this copy's code
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git", "init", "-q", cwd=project, env=env)
    sh("dvc", "init", "-q", cwd=project, env=env)
    _two_part_sample(project, env)
    sh("dvc", "add", "-q", "data/raw", cwd=project, env=env)


def _interval(ti: dict) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(ti["start_date"]), datetime.fromisoformat(ti["end_date"])


@pytest.mark.slow
@pytest.mark.timeout(720)
def test_retrain_on_postgres_runs_the_extract_fan_out_in_parallel():
    if not pg_available():
        pytest.skip(f"PostgreSQL server binaries not found: {PG_INSTALL}")
    # not pytest's tmp_path: its root is mode 700, and postgres runs as a non-root user that must
    # reach the cluster under AIRFLOW_HOME
    root = Path(tempfile.mkdtemp(prefix="deepfake-airflow-pg-"))
    root.chmod(0o755)
    home, port, pg_port = root / "airflow", free_port(), free_port()
    project, reference = root / "project", root / "reference"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DEEPFAKE"))}
    env.update({"PATH": f"{BIN}{os.pathsep}{env['PATH']}", "DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1"})
    env["PYTHONPATH"] = str(project / "src")  # wherever the venv's editable install points (a worktree)
    airflow_env = {
        **env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_PORT": str(port),
        "AIRFLOW_PG_PORT": str(pg_port),
        "AIRFLOW_PASSWORDS_FILE": str(root / "passwords.json"),
        "DEEPFAKE_PROJECT_DIR": str(project),
        "DEEPFAKE_VENV": str(BIN.parent),
        "BENTOML_HOME": str(root / "bentoml"),
    }
    single = None
    try:
        _project(project, env)
        shutil.copytree(project, reference)
        # the single-process reference extract runs while Airflow comes up
        single = subprocess.Popen(
            ["dvc", "repro", "extract"], cwd=reference, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        started = time.monotonic()
        sh("bash", str(SCRIPT), "start", cwd=REPO, env=airflow_env, timeout=240)
        boot_s = time.monotonic() - started

        conn = sh("bash", str(SCRIPT), "env", cwd=REPO, env=airflow_env)
        assert "AIRFLOW__CORE__EXECUTOR=LocalExecutor" in conn
        parallelism = int(
            next(x for x in conn.splitlines() if x.startswith("AIRFLOW__CORE__PARALLELISM=")).split("=")[1]
        )
        assert parallelism >= 2

        api = Api(port, root / "passwords.json")
        try:
            wait_for("deepfake_retrain to be parsed", lambda: api.get("/api/v2/dags/deepfake_retrain"), 120)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nimport errors: {api.get('/api/v2/importErrors')}") from None
        run = api.post("/api/v2/dags/deepfake_retrain/dagRuns", {"logical_date": None})
        path = f"/api/v2/dags/deepfake_retrain/dagRuns/{run['dag_run_id']}"
        try:
            final = wait_for("the retrain run to finish", lambda: (r := api.get(path))["state"] in DONE and r, 420, 3)
        except AssertionError as exc:
            tis = api.get(f"{path}/taskInstances?limit=100")["task_instances"]
            scheduler = (home / "run" / "scheduler.log").read_text().splitlines()[-30:]
            states = {t["task_id"]: t["state"] for t in tis}
            raise AssertionError(f"{exc}\n{states}\n{task_logs(home, tis)}\n" + "\n".join(scheduler)) from None
        tis = api.get(f"{path}/taskInstances?limit=100")["task_instances"]
        states = {f"{t['task_id']}[{t['map_index']}]" if t["map_index"] >= 0 else t["task_id"]: t["state"] for t in tis}
        assert final["state"] == "success", f"{states}\n{task_logs(home, tis)}"

        # the run is in PostgreSQL: the same task instances, read from the cluster under AIRFLOW_HOME
        import psycopg2

        password = (home / "postgres" / "password").read_text().strip()
        with psycopg2.connect(
            host="127.0.0.1", port=pg_port, user="airflow", password=password, dbname="airflow"
        ) as db:
            cur = db.cursor()
            cur.execute("SELECT count(*) FROM task_instance WHERE run_id = %s", (run["dag_run_id"],))
            assert cur.fetchone()[0] == len(tis)

        extracts = sorted((t for t in tis if t["task_id"] == "extract_part"), key=lambda t: t["map_index"])
        assert [t["state"] for t in extracts] == ["success", "success"], states
        (a0, a1), (b0, b1) = (_interval(t) for t in extracts)
        overlap = (min(a1, b1) - max(a0, b0)).total_seconds()
        took = {
            t["task_id"]: round((e - b).total_seconds())
            for t in tis
            if t["start_date"] and t["end_date"]
            for b, e in [_interval(t)]
        }
        print(
            f"airflow up in {boot_s:.0f} s; task seconds {took}; extract_part[0] {a0:%H:%M:%S.%f}-{a1:%H:%M:%S.%f}, "
            f"[1] {b0:%H:%M:%S.%f}-{b1:%H:%M:%S.%f}: overlap {overlap:.1f} s"
        )
        assert overlap > 0, f"the mapped extract tasks ran one after the other: {extracts}"
        for task in ("merge_parts", "validate", "repro"):
            assert states[task] == "success", states
        bound = listening(home)
        assert {f"127.0.0.1:{port}", f"127.0.0.1:{pg_port}"} <= bound, bound
        assert all(x.startswith("127.0.0.1:") for x in bound), f"listening beyond 127.0.0.1: {bound}"

        out, _ = single.communicate(timeout=300)
        assert single.returncode == 0, out.decode()[-3000:]
        fanned = pd.read_csv(project / "data/interim/manifest.csv").sort_values("crop_id", ignore_index=True)
        whole = pd.read_csv(reference / "data/interim/manifest.csv").sort_values("crop_id", ignore_index=True)
        assert len(fanned) > 0 and set(fanned["part"]) == set(PARTS)
        pd.testing.assert_frame_equal(fanned, whole)
        # every FAKE's group is its original's REAL clip, though the two sit in different parts
        reals = set(fanned.loc[fanned["label"] == "REAL", "video"])
        assert set(fanned.loc[fanned["label"] == "FAKE", "group"]) <= reals
        split = pd.read_csv(project / "data/split/manifest.csv")
        assert split.groupby("group")["split"].nunique().max() == 1, "a group straddles two splits"
    finally:
        recorded = roots(home)  # before stop, which removes the pid files
        stop = subprocess.run(["bash", str(SCRIPT), "stop"], cwd=REPO, env=airflow_env, capture_output=True, text=True)
        left = leftovers(home, recorded)
        for line in left:  # never leave them running, even when the assertion below fails
            subprocess.run(["kill", "-KILL", line.split(":")[0]], capture_output=True)
        if single is not None and single.poll() is None:
            single.kill()
        shutil.rmtree(root, ignore_errors=True)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert left == [], f"still running after `airflow-local.sh stop`: {left}"
