"""deepfake_monitor: a daily Evidently drift report over the latest request-log window; on drift,
updates the drift Asset (``drift.asset``) with the report path and figures in ``extra``, which
queues a deepfake_retrain run.

The report runs as a ``deepfake drift`` subprocess in the project environment; reports land in
``drift.report_dir`` (``drift-<time>.html``/``.json`` and ``latest.json``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from deepfake_detect.pipeline import dagops as ops

PARAMS = ops.settings()
DRIFT, RETRAIN = PARAMS.drift, PARAMS.retrain
DRIFT_ASSET = Asset(DRIFT.asset)


@dag(
    dag_id="deepfake_monitor",
    schedule=DRIFT.schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["deepfake", "monitoring", "evidently"],
    default_args={
        "retries": RETRAIN.retries,
        "retry_delay": timedelta(seconds=RETRAIN.retry_delay_s),
        "execution_timeout": timedelta(seconds=DRIFT.timeout_s),
        "on_failure_callback": ops.log_failure,
    },
    params={"media": "", "crops": False},
    doc_md=__doc__,
)
def deepfake_monitor():
    @task
    def drift_report(**context) -> dict:
        """`deepfake drift` over the last drift.window_days of the request log (or params.media, a folder)."""
        from deepfake_detect.contracts.drift import DriftResult

        cmd = ["deepfake", "drift"]
        run_params = context["params"]  # the DAG's params: media, crops
        if run_params["media"]:
            cmd += ["--media", str(run_params["media"])] + (["--crops"] if run_params["crops"] else [])
        path = Path(json.loads(ops.last_line(ops.run(*cmd).stdout))["report_json"])
        result = DriftResult.read(path if path.is_absolute() else ops.project_dir() / path)
        return result.summary()

    @task(outlets=[DRIFT_ASSET])
    def emit_drift(result: dict, *, outlet_events) -> dict:
        """Only a detected drift updates the Asset; otherwise this task is skipped (no event)."""
        if not result["drift_detected"]:  # DriftResult.summary() of drift_report
            raise AirflowSkipException(f"no drift ({result['status']}, signals {result['signals']})")
        outlet_events[DRIFT_ASSET].extra = result
        ops.log.warning("DRIFT DETECTED: %s; report %s", result["signals"], result["report_html"])
        return result

    emit_drift(drift_report())


deepfake_monitor()
