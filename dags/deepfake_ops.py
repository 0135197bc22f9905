"""Plain helpers the deepfake DAGs share (no Airflow objects, no database, cheap to import).

Heavy work never runs in the scheduler or in the task's own interpreter: every step is a
``dvc`` or ``deepfake`` subprocess in the project's environment (``$DEEPFAKE_VENV``, default
``<project>/.venv``), run in the project checkout (``$DEEPFAKE_PROJECT_DIR``, default the folder
above ``dags/``). On a Celery/Kubernetes deployment each worker has its own checkout.

A subprocess gets only the variables ``dags.task_env`` names (names or shell globs), never the
whole environment of the scheduler or worker, which holds Airflow's database URL and secrets.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("deepfake.dags")
TELEMETRY_OFF = {
    "BENTOML_DO_NOT_TRACK": "true",
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
    "SCARF_ANALYTICS": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
# only when params.yaml cannot be read or has no dags.task_env (params.yaml holds the real list)
FALLBACK_TASK_ENV = ("PATH", "HOME", "LANG", "TZ", "DEEPFAKE_PROJECT_DIR", "DEEPFAKE_PARAMS", "DEEPFAKE_VENV")


def project_dir() -> Path:
    return Path(os.environ.get("DEEPFAKE_PROJECT_DIR") or Path(__file__).resolve().parents[1])


def venv_bin() -> Path:
    return Path(os.environ.get("DEEPFAKE_VENV") or project_dir() / ".venv") / "bin"


def read_params() -> dict[str, Any]:
    """params.yaml of the project as plain data (a file read, no package import: safe at parse time)."""
    path = project_dir() / os.environ.get("DEEPFAKE_PARAMS", "params.yaml")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        log.warning("%s: cannot read params (%s); DAG defaults apply", path, exc)
        return {}


def section(name: str) -> dict[str, Any]:
    value = read_params().get(name)
    return value if isinstance(value, dict) else {}


def task_env_patterns() -> list[str]:
    """``dags.task_env`` of params.yaml: the variables (names or globs) a task's subprocess receives."""
    patterns = section("dags").get("task_env")
    if isinstance(patterns, list) and patterns:
        return [str(x) for x in patterns]
    log.warning("params.yaml has no dags.task_env: task commands get only %s", ", ".join(FALLBACK_TASK_ENV))
    return list(FALLBACK_TASK_ENV)


def env() -> dict[str, str]:
    """A task command's environment: the allowed variables, telemetry off, the project's venv first on PATH."""
    patterns = task_env_patterns()
    out = {k: v for k, v in os.environ.items() if any(fnmatch.fnmatchcase(k, p) for p in patterns)}
    out.update(TELEMETRY_OFF)
    out["PATH"] = f"{venv_bin()}{os.pathsep}{out.get('PATH', os.defpath)}"
    out["DEEPFAKE_PROJECT_DIR"] = str(project_dir())
    return out


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a project command; its output goes to the task log; a failure names the command and its tail."""
    log.info("$ %s   (in %s)", " ".join(cmd), project_dir())
    proc = subprocess.run(cmd, cwd=project_dir(), env=env(), capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines()[-200:]:
        log.info("| %s", line)
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"`{' '.join(cmd)}` exited with {proc.returncode}:\n{tail}")
    return proc


def dvc_stages() -> list[str]:
    """Stage names declared in dvc.yaml (foreach stages by their base name)."""
    data = yaml.safe_load((project_dir() / "dvc.yaml").read_text()) or {}
    return list((data.get("stages") or {}).keys())


def has_remote() -> bool:
    return bool(run("dvc", "remote", "list").stdout.strip())


def extract_parts() -> list[str]:
    """Raw part folders to extract, or [] when DVC says the extract stage is up to date."""
    status = run("dvc", "status", "extract", "--json").stdout.strip() or "{}"
    if json.loads(status) == {}:
        log.info("extract is up to date: nothing to fan out")
        return []
    code = (
        "import json; from deepfake_detect.config import load_params; "
        "from deepfake_detect.stages.extract import list_parts; print(json.dumps(list_parts(load_params())))"
    )
    return json.loads(run("python", "-c", code).stdout.strip().splitlines()[-1])


def last_json_line(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in command output: {text[-500:]!r}")


def log_failure(context: dict[str, Any]) -> None:
    """on_failure_callback: one clear line naming the DAG, task, try, run and the error."""
    ti = context.get("task_instance") or context.get("ti")
    log.error(
        "DEEPFAKE TASK FAILED dag=%s task=%s try=%s run=%s error=%s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        getattr(ti, "try_number", "?"),
        getattr(ti, "run_id", "?"),
        context.get("exception"),
    )
