"""A DAG task's dvc/deepfake subprocess gets only the environment it needs (dags.task_env), never
the scheduler's secrets (Airflow's database URL, JWT secret, Postgres and MinIO root passwords)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SECRETS = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://airflow:db-secret@postgres/airflow",
    "AIRFLOW__API_AUTH__JWT_SECRET": "jwt-secret",
    "AIRFLOW__CORE__FERNET_KEY": "fernet-secret",
    "POSTGRES_PASSWORD": "db-secret",
    "MINIO_ROOT_PASSWORD": "minio-secret",
    "DEEPFAKE_API_KEY": "serving-key",
    "DEEPFAKE_ADMIN_KEY": "serving-admin-key",
    "KAGGLE_KEY": "kaggle-secret",
}
NEEDED = {
    "HOME": "/home/deepfake",
    "AWS_ACCESS_KEY_ID": "dvc-remote-user",  # the DVC remote (MinIO's S3 API)
    "AWS_SECRET_ACCESS_KEY": "dvc-remote-secret",
    "BENTOML_HOME": "/bentoml",
    "DVC_NO_ANALYTICS": "1",
}


@pytest.fixture
def ops(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The DAGs' helpers (deepfake_detect.pipeline.dagops) in a scheduler-like environment, the repo's params.yaml
    as the project's."""
    from deepfake_detect.pipeline import dagops

    project = tmp_path / "project"
    project.mkdir()
    (project / "params.yaml").write_text((REPO / "params.yaml").read_text())
    for key, value in {**SECRETS, **NEEDED, "DEEPFAKE_PROJECT_DIR": str(project)}.items():
        monkeypatch.setenv(key, value)
    return dagops


def _child_env(ops) -> dict[str, str]:
    """The environment a command started by ops.run really sees."""
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    return json.loads(ops.run(sys.executable, "-c", code).stdout.strip().splitlines()[-1])


def test_task_subprocess_gets_no_scheduler_secret(ops):
    child = _child_env(ops)
    leaked = sorted(k for k in SECRETS if k in child)
    assert leaked == [], f"secrets passed to a task command: {leaked}"
    assert not [k for k in child if k.startswith("AIRFLOW")]
    for key, value in NEEDED.items():
        assert child[key] == value, key
    assert child["PATH"].split(":")[0] == str(ops.venv_bin())  # the project's environment first
    assert child["DEEPFAKE_PROJECT_DIR"] == str(ops.project_dir())


def test_task_env_follows_params(ops, monkeypatch: pytest.MonkeyPatch):
    path = ops.project_dir() / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["dags"]["task_env"] = [*params["dags"]["task_env"], "KAGGLE_*"]  # e.g. a task that downloads
    path.write_text(yaml.safe_dump(params))
    child = _child_env(ops)
    assert child["KAGGLE_KEY"] == SECRETS["KAGGLE_KEY"]
    assert "POSTGRES_PASSWORD" not in child
