"""Plain helpers the Airflow DAGs share (no Airflow objects, no database, cheap to import).

Heavy work never runs in the scheduler or in the task's own interpreter: every step is a ``dvc``
or ``deepfake`` subprocess in the project's environment (``$DEEPFAKE_VENV``, default
``<project>/.venv``), run in the project checkout (``$DEEPFAKE_PROJECT_DIR``, default the working
folder). On a Celery/Kubernetes deployment each worker has its own checkout.

The DAGs read their settings through :func:`settings` (the typed ``params.yaml`` of the project),
so a wrong setting fails the DAG's import naming the field, instead of a default guessed here.

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

from deepfake_detect.config import PARAMS_ENV, Params, load_params

log = logging.getLogger("deepfake.dags")
TELEMETRY_OFF = {
    "BENTOML_DO_NOT_TRACK": "true",
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
    "SCARF_ANALYTICS": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def project_dir() -> Path:
    return Path(os.environ.get("DEEPFAKE_PROJECT_DIR") or Path.cwd())


def venv_bin() -> Path:
    return Path(os.environ.get("DEEPFAKE_VENV") or project_dir() / ".venv") / "bin"


def settings() -> Params:
    """The project's params.yaml (``$DEEPFAKE_PARAMS`` relative to the project), validated."""
    return load_params(project_dir() / os.environ.get(PARAMS_ENV, "params.yaml"))


def env() -> dict[str, str]:
    """A task command's environment: the allowed variables, telemetry off, the project's venv first on PATH."""
    patterns = settings().dags.task_env
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
    return json.loads(last_line(run("deepfake", "extract", "--list-parts").stdout, "["))


def last_line(text: str, starts: str = "{") -> str:
    """The last line of a command's output that starts with ``starts`` (its JSON answer)."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith(starts):
            return line
    raise ValueError(f"no line starting {starts!r} in command output: {text[-500:]!r}")


def log_failure(context: dict[str, Any]) -> None:
    """on_failure_callback: one clear line naming the DAG, task, try, run and the error."""
    ti = context.get("task_instance") or context.get("ti")  # Airflow's context, not a contract of ours
    log.error(
        "DEEPFAKE TASK FAILED dag=%s task=%s try=%s run=%s error=%s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        getattr(ti, "try_number", "?"),
        getattr(ti, "run_id", "?"),
        context.get("exception"),
    )


RELOAD_URL_ENV = "DEEPFAKE_SERVING_RELOAD_URL"  # overrides retrain.serving_reload_url (e.g. http://serving:3000/reload)


def notify_serving(url: str, api_key: str | None, outcome: dict[str, Any] | None, timeout_s: float = 300) -> str:
    """Ask a running service to load the promoted model (POST ``url``, the service's ``/reload``).

    Nothing promoted, or no URL: logged only. No service listening (refused, timed out) or no
    ``/reload`` there (404): a warning, never a failure, since the promotion itself is done and a
    service that starts later loads the store's latest anyway. A service that answers with another
    error (wrong key, a model it cannot load) raises: it runs and keeps the old model, which someone must look at."""
    import urllib.error
    import urllib.request

    promotion = (outcome or {}).get("promotion") or {}
    if not promotion.get("promoted"):
        log.info("nothing promoted: serving keeps its model (%s)", json.dumps(outcome, default=str))
        return "nothing promoted"
    if not url:
        log.info("promoted %s; no serving reload URL: serving loads it when restarted", promotion.get("tag"))
        return "logged"
    headers = {"Content-Type": "application/json", **({"X-API-Key": api_key} if api_key else {})}
    req = urllib.request.Request(url, data=json.dumps(outcome, default=str).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            answer = json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:  # before URLError: HTTPError is one
        if exc.code == 404:  # something listens there, but no /reload: an older service, or not ours
            log.warning(
                "no reload endpoint at %s (HTTP 404): serving loads %s when restarted", url, promotion.get("tag")
            )
            return f"serving not reached at {url} (HTTP 404)"
        raise RuntimeError(f"serving at {url} refused the reload: HTTP {exc.code} {exc.read()[:300]!r}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        log.warning("serving not reached at %s (%s): it loads %s when it next starts", url, exc, promotion.get("tag"))
        return f"serving not reached at {url}"
    log.info("serving at %s reloaded: %s", url, json.dumps(answer))
    return f"reloaded {answer.get('tag')} (was {answer.get('previous')})"
