"""The loop under a real scheduler, once, end to end (issue 19 item 5), on tiny data: Airflow 3 on the
project's PostgreSQL (scripts/airflow-local.sh, LocalExecutor), a real `bentoml serve` of the promoted model,
the reviewer page in headless Chromium.

1. a project copy reproduces the embedded sample to a promoted sklearn_fft model A (while Airflow starts);
2. the service answers requests showing a technique A never saw (test_feedback_loop's soft recolouring);
   `deepfake drift` (the monitor DAG's command) finds drift in the request log;
3. while drifted the service keeps every request: the queue fills, and each item is labelled in the page;
4. a deepfake_monitor run finds the drift again and emits the drift Asset; the deepfake_retrain run it
   queues versions the labels, re-extracts, trains, evaluates, gates, shadow-scores the queue
   (promote.shadow: gate), promotes B and POSTs /reload;
5. the service answers with B without a restart, its answers are labelled too, and `deepfake eval live`
   shows both versions.

What the run measured is printed (and written to $OPS_LOOP_OUT with the reports and screenshots, which
scripts/ops_screenshots.py turns into docs/img/ops-*.png). Skips where PostgreSQL's server or Chromium is
absent, as test_airflow_postgres.py and the page test do. The release rules keep their shipped thresholds
(promote.min_improvement, max_regression, with the shadow gate on); only retrain.gate_min is 0 (a tiny model)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from airflow_kit import PG_INSTALL, SCRIPT, Api, free_port, leftovers, pg_available, roots, sh, task_logs, wait_for

from deepfake_detect.scoring.service_process import ServerStartError, start_bentoml_serve, stop_process_tree

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN = "ops-loop-admin-key"
# requests per class in each round of traffic. The labelled items are split by group like any source, and the
# groups are request ids (random), so the feedback test split is a fresh draw each run: at 12 a class it held
# ~5 crops, and B lost to A on it in 3 of 4 runs (0.78-0.81 vs 0.83) by chance; 6 were too few to learn from
PER_CLASS = 24
SHOT_AFTER = 5  # labels made in the page before its screenshot
TINY = {
    "sample": {"n_actors": 4, "fakes_per_real": 1, "frames": 10, "fps": 10, "width": 240, "height": 180},
    # the reviewers' crops are the service's 224-px crops of images no detector would confirm as faces
    "extract": {"frames_per_video": 4, "workers": 1, "verify_ready_crops": False},
    "train": {"models": ["sklearn_fft"]},
    "evaluate": {"bootstrap_resamples": 0},
    "promote": {"embedding_samples": 16, "embedding_components": 4, "shadow": "gate"},
    "drift": {"reference_split": "train", "min_rows": 6, "reference_size": 100, "schedule": None},
    "retrain": {"gate_min": 0.0, "retries": 0, "schedule": None, "serving_reload_url": ""},
    "serve": {"review": {"keep_crops": True, "margin": 0.0, "audit_rate": 0.0, "on_drift": True}},
    "live": {"min_n": 4},
}
DONE = ("success", "failed")


def _new_technique():
    """test_feedback_loop.py's crop of a technique the first model never saw (one definition of it)."""
    path = REPO / "tests" / "models" / "test_feedback_loop.py"
    spec = importlib.util.spec_from_file_location("feedback_loop_crops", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.new_technique_crop


def _merge(base: dict, over: dict) -> dict:
    for k, v in over.items():
        base[k] = _merge(dict(base.get(k) or {}), v) if isinstance(v, dict) else v
    return base


def _project(project: Path, env: dict[str, str]) -> None:
    """src/, dags/, serving/ and dvc.yaml of the repo, the tiny params, the embedded sample under DVC. The
    task commands get PYTHONPATH (dags.task_env) so they run this copy's code, wherever the venv points."""
    project.mkdir()
    for name in ("src", "dags", "serving"):
        shutil.copytree(REPO / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", project)
    params = _merge(yaml.safe_load((REPO / "params.yaml").read_text()), TINY)
    params["dags"]["task_env"] = [*params["dags"]["task_env"], "PYTHONPATH"]
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (("git", "init", "-q"), ("dvc", "init", "-q"), ("deepfake", "data", "sample", "--out", "data/raw")):
        sh(*cmd, cwd=project, env=env)
    sh("dvc", "add", "-q", "data/raw", cwd=project, env=env)


class Clock:
    """Seconds per step of the loop, in order (printed, and written to $OPS_LOOP_OUT)."""

    def __init__(self):
        self.steps: dict[str, float] = {}
        self.start = self.last = time.monotonic()

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.steps[step] = round(now - self.last, 1)
        self.last = now


def _score(url: str, path: Path) -> dict:
    with path.open("rb") as fh:
        r = httpx.post(
            f"{url}/score_image",
            files={"file": (path.name, fh)},
            data={"crop": "true"},
            headers={"X-API-Key": ADMIN},
            timeout=120,
        )
    assert r.status_code == 200, r.text[:300]
    return r.json()


def _traffic(url: str, folder: Path, crop, rng: np.random.Generator, tag: str) -> dict[str, str]:
    """PER_CLASS REAL and PER_CLASS FAKE crops of the new technique, one request each, all answered by
    ``tag``; the truth by file name (what the reviewer will say)."""
    folder.mkdir(parents=True)
    truth = {}
    import cv2

    for i in range(PER_CLASS):
        for label in ("REAL", "FAKE"):
            path = folder / f"{folder.name}-{i:02d}-{rng.integers(1 << 30):x}.png"
            cv2.imwrite(str(path), crop(rng, fake=label == "FAKE"))
            assert _score(url, path)["model_tag"] == tag
            truth[path.name] = label
    return truth


def _runs(api: Api, dag: str) -> dict[str, dict]:
    return {r["dag_run_id"]: r for r in api.get(f"/api/v2/dags/{dag}/dagRuns?limit=100")["dag_runs"]}


def _finished(api: Api, home: Path, dag: str, run_id: str, timeout: float) -> dict[str, str]:
    """Wait for a run; its task states (``task[i]`` for mapped ones), with the logs of failed tasks on failure."""
    path = f"/api/v2/dags/{dag}/dagRuns/{run_id}"
    try:
        final = wait_for(f"{dag} {run_id}", lambda: (r := api.get(path))["state"] in DONE and r, timeout, 2)
    except AssertionError as exc:
        tis = api.get(f"{path}/taskInstances?limit=100")["task_instances"]
        raise AssertionError(f"{exc}\n{ {t['task_id']: t['state'] for t in tis} }\n{task_logs(home, tis)}") from None
    tis = api.get(f"{path}/taskInstances?limit=100")["task_instances"]
    states = {f"{t['task_id']}[{t['map_index']}]" if t["map_index"] >= 0 else t["task_id"]: t["state"] for t in tis}
    assert final["state"] == "success", f"{dag} {run_id}: {states}\n{task_logs(home, tis)}"
    return states


def _task_seconds(api: Api, dag: str, run_id: str) -> dict[str, float]:
    from datetime import datetime

    tis = api.get(f"/api/v2/dags/{dag}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
    took = {}
    for t in tis:
        if t["start_date"] and t["end_date"] and t["state"] == "success":
            span = datetime.fromisoformat(t["end_date"]) - datetime.fromisoformat(t["start_date"])
            took[t["task_id"]] = round(span.total_seconds(), 1)
    return took


def _monitor_then_retrain(api: Api, home: Path, clock: Clock) -> tuple[str, dict]:
    """Trigger deepfake_monitor on the request log; it must emit the drift Asset, which queues a
    deepfake_retrain run: (the retrain run's id, its task states)."""
    before = set(_runs(api, "deepfake_retrain"))
    run = api.post("/api/v2/dags/deepfake_monitor/dagRuns", {"logical_date": None, "conf": {}})
    monitor = _finished(api, home, "deepfake_monitor", run["dag_run_id"], 300)
    assert monitor == {"drift_report": "success", "emit_drift": "success"}, monitor  # drift fired
    clock.lap("deepfake_monitor run: drift, the Asset event")
    queued = wait_for("the run the drift Asset queues", lambda: set(_runs(api, "deepfake_retrain")) - before, 60)
    (retrain_id,) = queued
    assert _runs(api, "deepfake_retrain")[retrain_id]["run_type"] == "asset_triggered"
    return retrain_id, _finished(api, home, "deepfake_retrain", retrain_id, 600)


def _label_in_page(driver, url: str, truth: dict[str, str], shot: Path | None) -> int:
    """Load the queue in the reviewer page with the admin key and label every listed item of ``truth``
    (``shot``: a screenshot of the queue panel after SHOT_AFTER labels, for docs/operations.md)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def wait(condition, timeout=60):
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(condition)

    driver.get(f"{url}/ui/")
    driver.execute_script("sessionStorage.setItem('deepfake-api-key', arguments[0])", ADMIN)
    driver.get(f"{url}/ui/")
    driver.find_element(By.CSS_SELECTOR, "#queue-load").click()
    wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#queue li.queue-item")) >= len(truth))
    done = 0
    for li in driver.find_elements(By.CSS_SELECTOR, "#queue li.queue-item"):
        (name,) = [f for f in truth if f in li.text]
        assert "kept: drift" in li.text, li.text
        li.find_element(By.CSS_SELECTOR, "input.note").send_keys("recoloured centre" if truth[name] == "FAKE" else "ok")
        li.find_element(By.CSS_SELECTOR, f"button.label-{truth[name].lower()}").click()
        wait(lambda d, li=li: li.get_attribute("data-label") in ("REAL", "FAKE", "error"))
        assert li.get_attribute("data-label") == truth[name], li.text
        done += 1
        if shot and done == SHOT_AFTER:  # the panel's top: the status line, labelled and waiting items
            driver.execute_script("arguments[0].scrollIntoView()", driver.find_element(By.CSS_SELECTOR, "#queue-box"))
            driver.save_screenshot(str(shot))
    return done


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_drift_queue_page_labels_retrain_promote_reload_and_live_eval_under_airflow(chromium):
    if not pg_available():
        pytest.skip(f"PostgreSQL server binaries not found: {PG_INSTALL}")
    crop = _new_technique()
    clock = Clock()
    # not pytest's tmp_path: postgres runs as another user that must reach AIRFLOW_HOME (as test_airflow_postgres)
    root = Path(tempfile.mkdtemp(prefix="deepfake-ops-loop-"))
    root.chmod(0o755)
    home, project, bento = root / "airflow", root / "project", root / "bentoml"
    port, pg_port, serve_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DEEPFAKE"))}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env['PATH']}",
            "PYTHONPATH": str(project / "src"),
            "BENTOML_HOME": str(bento),
            "DVC_NO_ANALYTICS": "1",
            "DO_NOT_TRACK": "1",
            "BENTOML_DO_NOT_TRACK": "true",
        }
    )
    airflow_env = {
        **env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_PORT": str(port),
        "AIRFLOW_PG_PORT": str(pg_port),
        "AIRFLOW_PASSWORDS_FILE": str(root / "passwords.json"),
        "DEEPFAKE_PROJECT_DIR": str(project),
        "DEEPFAKE_VENV": str(BIN.parent),
        "DEEPFAKE_ADMIN_KEY": ADMIN,  # notify_serving's key for /reload
        "DEEPFAKE_SERVING_RELOAD_URL": f"http://127.0.0.1:{serve_port}/reload",
    }
    serve_env = {**env, "DEEPFAKE_PARAMS": str(project / "params.yaml"), "DEEPFAKE_ADMIN_KEY": ADMIN}
    out = Path(os.environ["OPS_LOOP_OUT"]) if os.environ.get("OPS_LOOP_OUT") else None
    rng = np.random.default_rng(19)
    serve = None
    try:
        _project(project, env)
        clock.lap("project copy + embedded sample")
        bootstrap = subprocess.Popen(  # model A, while Airflow comes up
            ["dvc", "repro"], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        sh("bash", str(SCRIPT), "start", cwd=REPO, env=airflow_env, timeout=240)
        clock.lap("airflow-local.sh start (PostgreSQL + Airflow)")
        log, _ = bootstrap.communicate(timeout=600)
        assert bootstrap.returncode == 0, log.decode()[-3000:]
        first = json.loads((project / "reports/models/promotion.json").read_text())
        assert first["promoted"], first
        clock.lap("dvc repro to model A (beyond the Airflow start)")
        try:
            serve, url = start_bentoml_serve(serve_env, root / "serve.log", project, 300, port=serve_port)
        except ServerStartError as exc:
            pytest.fail(str(exc))
        api = Api(port, root / "passwords.json")
        for dag in ("deepfake_monitor", "deepfake_retrain"):
            wait_for(f"{dag} to be parsed", lambda dag=dag: api.get(f"/api/v2/dags/{dag}"), 120)
        clock.lap("bentoml serve ready, DAGs parsed")

        _traffic(url, root / "monday", crop, rng, first["tag"])
        clock.lap(f"{2 * PER_CLASS} requests of the new technique")
        # the monitor task's command; a DAG run here would queue a retrain that only says "labels needed"
        # (tests/dags/test_retrain_labels.py), half a minute of this test
        drift = json.loads(sh("deepfake", "drift", "--no-html", cwd=project, env=env).strip().splitlines()[-1])
        assert drift["drift_detected"] and "columns" in drift["signals"], drift
        clock.lap("deepfake drift on the request log: drift")

        truth = _traffic(url, root / "tuesday", crop, rng, first["tag"])
        listing = httpx.post(f"{url}/review_items", json={}, headers={"X-API-Key": ADMIN}, timeout=30).json()
        assert listing["waiting"] == len(truth) and {e["item"]["reason"] for e in listing["items"]} == {"drift"}
        clock.lap(f"{len(truth)} requests kept while drifted")
        if out:
            out.mkdir(parents=True, exist_ok=True)
        assert _label_in_page(chromium, url, truth, out / "queue.png" if out else None) == len(truth)
        clock.lap(f"{len(truth)} items labelled in the reviewer page")

        retrain_id, retrain = _monitor_then_retrain(api, home, clock)
        clock.lap("deepfake_retrain run it queued: labels versioned ... promoted, serving reloaded")
        ran = ("check_labels", "version_feedback", "parts_to_extract", "merge_parts", "validate", "repro")
        assert all(retrain[t] == "success" for t in ran), retrain
        for task in ("evaluation_gate", "promote", "dvc_push", "notify_serving"):
            assert retrain[task] == "success", retrain
        assert retrain["labels_needed"] == "skipped", retrain
        second = json.loads((project / "reports/models/promotion.json").read_text())
        assert second["promoted"] and second["tag"] != first["tag"], f"not promoted: {second['reason']}"
        shadow = json.loads((project / second["shadow_report"]).read_text())
        assert shadow["passed"] and shadow["n_labelled"] >= len(truth), shadow
        reloaded = httpx.post(f"{url}/model", json={}, headers={"X-API-Key": ADMIN}, timeout=30).json()
        assert reloaded["tag"] == second["tag"], reloaded  # the running service, no restart

        later = _traffic(url, root / "wednesday", crop, rng, second["tag"])
        waiting = httpx.post(f"{url}/review_items", json={}, headers={"X-API-Key": ADMIN}, timeout=30).json()
        for entry in waiting["items"]:
            body = {"item_id": entry["item"]["id"], "label": later[entry["item"]["file"]], "note": ""}
            r = httpx.post(f"{url}/review_label", json=body, headers={"X-API-Key": ADMIN}, timeout=60)
            assert r.status_code == 200, r.text
        said = subprocess.run(["deepfake", "eval", "live"], cwd=project, env=env, capture_output=True, text=True)
        assert said.returncode == 0, said.stderr[-2000:]
        live = json.loads(said.stdout.strip().splitlines()[-1])
        print(said.stderr)  # a line per version, as a maintainer reads it
        clock.lap("B answers and is labelled; deepfake eval live")
        versions = live["versions"]
        assert versions[first["tag"]]["n"] == len(truth) and versions[second["tag"]]["n"] == len(later), versions
        retrain_tasks = _task_seconds(api, "deepfake_retrain", retrain_id)
        print(json.dumps({"steps": clock.steps, "total_s": round(time.monotonic() - clock.start), **live}))
        decided = {"retrain_task_seconds": retrain_tasks, "promotion": second["reason"], "shadow": shadow["reason"]}
        print(json.dumps(decided))
        if out:
            live_html = project / "reports/live" / Path(live["report_json"]).with_suffix(".html").name
            drift = json.loads((project / "reports/drift/latest.json").read_text())  # the monitor run's
            for src, name in (
                (live_html, "live.html"),
                (Path(drift["report_html"]), "drift.html"),
                (project / second["shadow_report"], "shadow.json"),
                (project / "reports/models/promotion.json", "promotion.json"),
            ):
                shutil.copy(src if src.is_absolute() else project / src, out / name)
            timings = {
                "steps": clock.steps,
                "retrain_task_seconds": retrain_tasks,
                "load_average_1_5_15_min": os.getloadavg(),  # other jobs on the machine during the run
                "live": live,
                "drift": drift,
            }
            (out / "timings.json").write_text(json.dumps(timings, indent=1))
            (out / "live.txt").write_text(said.stderr)
    finally:
        if serve is not None:
            stop_process_tree(serve)
        recorded = roots(home)
        stop = subprocess.run(["bash", str(SCRIPT), "stop"], cwd=REPO, env=airflow_env, capture_output=True, text=True)
        left = leftovers(home, recorded)
        for line in left:
            subprocess.run(["kill", "-KILL", line.split(":")[0]], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert left == [], f"still running after `airflow-local.sh stop`: {left}"
