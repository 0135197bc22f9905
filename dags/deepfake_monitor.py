"""deepfake_monitor: a daily Evidently drift report over the latest request-log window; on drift,
updates the drift Asset (``drift.asset``) with the report path and figures in ``extra``, which
queues a deepfake_retrain run.

The report runs as a ``deepfake drift`` subprocess in the project environment; reports land in
``drift.report_dir`` (``drift-<time>.html``/``.json`` and ``latest.json``).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # deepfake_ops beside this file
import deepfake_ops as ops
from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowSkipException

DRIFT = ops.section("drift")
RETRAIN = ops.section("retrain")
DRIFT_ASSET = Asset(DRIFT.get("asset", "deepfake_drift"))
FIGURES = (
    "drift_detected",
    "signals",
    "share_drifted_columns",
    "drifted_columns",
    "embedding_drift_score",
    "embedding_drift",
    "prediction_drift",
    "prediction_drift_score",
    "n_reference",
    "n_current",
    "window",
    "report_html",
    "report_json",
    "status",
)


@dag(
    dag_id="deepfake_monitor",
    schedule=DRIFT.get("schedule", "@daily"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["deepfake", "monitoring", "evidently"],
    default_args={
        "retries": int(RETRAIN.get("retries", 2)),
        "retry_delay": timedelta(seconds=int(RETRAIN.get("retry_delay_s", 300))),
        "execution_timeout": timedelta(seconds=int(DRIFT.get("timeout_s", 3600))),
        "on_failure_callback": ops.log_failure,
    },
    params={"media": "", "crops": False},
    doc_md=__doc__,
)
def deepfake_monitor():
    @task
    def drift_report(**context) -> dict:
        """`deepfake drift` over the last drift.window_days of the request log (or params.media, a folder)."""
        cmd = ["deepfake", "drift"]
        media = (context["params"] or {}).get("media")
        if media:
            cmd += ["--media", str(media)] + (["--crops"] if context["params"].get("crops") else [])
        line = ops.last_json_line(ops.run(*cmd).stdout)
        path = Path(line["report_json"])
        result = json.loads((path if path.is_absolute() else ops.project_dir() / path).read_text())
        return {k: result.get(k) for k in FIGURES}

    @task(outlets=[DRIFT_ASSET])
    def emit_drift(result: dict, *, outlet_events) -> dict:
        """Only a detected drift updates the Asset; otherwise this task is skipped (no event)."""
        if not result.get("drift_detected"):
            raise AirflowSkipException(f"no drift ({result.get('status')}, signals {result.get('signals')})")
        outlet_events[DRIFT_ASSET].extra = json.loads(json.dumps(result, default=str))
        ops.log.warning("DRIFT DETECTED: %s; report %s", result.get("signals"), result.get("report_html"))
        return result

    emit_drift(drift_report())


deepfake_monitor()
