"""deepfake_retrain: pull → extract (fanned out per part) → validate → repro → gate → promote → push → notify.

Runs on ``retrain.schedule`` OR when the monitor DAG updates the drift Asset (``drift.asset``). A drift
run retrains only when the feedback dataset holds labels made after the served model was promoted
(``deepfake review status``): retraining the same data gives the same model. Without them it updates
the labels Asset (``retrain.labels_asset``) with the review queue's size instead, and stops.
``max_active_runs=1`` because DVC locks the workspace. Every step is a ``dvc``/``deepfake``
subprocess in the project environment (:mod:`deepfake_detect.pipeline.dagops`); nothing here touches the
database at parse time (the settings are the project's typed params.yaml).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from deepfake_detect.pipeline import dagops as ops

PARAMS = ops.settings()
RETRAIN = PARAMS.retrain
DRIFT_ASSET = Asset(PARAMS.drift.asset)
LABELS_ASSET = Asset(RETRAIN.labels_asset)


def _schedule():
    if not RETRAIN.schedule:
        return [DRIFT_ASSET]
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(RETRAIN.schedule, timezone="UTC"), assets=DRIFT_ASSET)


@task
def check_labels(**context) -> dict:
    """What triggered this run, and the labels the served model has not seen (``deepfake review status``)."""
    from deepfake_detect.scoring.feedback import LabelStatus, retrain_wanted

    events = context.get("triggering_asset_events") or {}
    for asset, evs in events.items():
        for ev in evs:
            ops.log.info("triggered by %s: %s", asset, json.dumps(ev.extra, default=str))
    status = LabelStatus.model_validate_json(ops.last_line(ops.run("deepfake", "review", "status").stdout))
    drift = any(events.values())
    return {"drift": drift, "retrain": retrain_wanted(status, drift), **status.model_dump(mode="json")}


@task.short_circuit
def retrain_wanted(check: dict) -> bool:
    """False skips every task after this one: a drift event brought no label the served model has not seen."""
    return check["retrain"]


@task(outlets=[LABELS_ASSET])
def labels_needed(check: dict, *, outlet_events) -> str:
    """Instead of retraining the same data: a log line with the queue size, and the labels Asset."""
    if check["retrain"]:
        raise AirflowSkipException("retraining: no labels event")
    ops.log.warning(
        "drift detected but no label is newer than the served model %s: %d request(s) wait in the review "
        "queue (`deepfake review list`); not retraining the same data",
        check["served"],
        check["waiting"],
    )
    outlet_events[LABELS_ASSET].extra = check
    return f"labels needed: {check['waiting']} waiting"


@task
def version_feedback(check: dict, wanted: bool) -> str:
    """New labels become a data version (dvc.yaml's feedback stage records the folder in dvc.lock) before
    the pull, which refuses to replace unrecorded files (``wanted``: retrain_wanted let the run go on)."""
    if not (wanted and check["new_labels"]):
        return "no new labels"
    if "feedback" not in ops.dvc_stages():
        return "dvc.yaml has no feedback stage: labels not versioned"
    ops.run("dvc", "repro", "feedback")
    return f"{check['new_labels']} new label(s) versioned"


@task
def dvc_pull(versioned: str) -> str:
    """Fetch the data and models versioned in the DVC remote (skipped when none is configured)."""
    ops.log.info("feedback: %s", versioned)
    if not ops.has_remote():
        return "no DVC remote configured: using the workspace as is"
    ops.run("dvc", "pull", "--allow-missing")
    return "pulled"


@task
def parts_to_extract(pulled: str) -> list[str]:
    """The raw part folders whose crops are missing or stale (after the pull: ``pulled``). The feedback
    stage runs first: a workspace with no labels yet gets extract's second source as an empty folder
    (after the pull, so labels versioned elsewhere arrive instead)."""
    ops.log.info("data: %s", pulled)
    if "feedback" in ops.dvc_stages():  # a dvc.yaml without it reads the labels folder as a plain dep
        ops.run("dvc", "repro", "feedback")
    return ops.extract_parts()


@task(max_active_tis_per_dag=4)
def extract_part(part: str) -> str:
    """One raw part folder → its crops and part manifest (a worker each on Celery/Kubernetes)."""
    ops.run("deepfake", "extract", "--part", part)
    return part


@task(trigger_rule="none_failed")
def merge_parts(parts: list[str], extracted: list[str]) -> str:
    """Merge the part manifests and record the fanned-out stage in dvc.lock (runs, as a no-op, when
    extract was up to date and the mapped task had nothing to do)."""
    if not parts:
        return "extract up to date"
    ops.run("deepfake", "extract", "--merge-only")
    ops.run("dvc", "commit", "--force", "extract")
    return f"merged {len(list(extracted))} part(s)"


@task(trigger_rule="none_failed")
def validate(merged: str) -> str:
    ops.log.info("extract: %s", merged)
    ops.run("dvc", "repro", "validate")
    return "valid"


@task
def repro(valid: str) -> list[str]:
    """Everything up to the evaluation (promote waits for the gate); ``valid``: the data passed validation."""
    targets = [s for s in ops.dvc_stages() if s != "promote"]
    ops.run("dvc", "repro", *targets)
    return targets


@task
def evaluation_gate(targets: list[str]) -> dict:
    if "evaluate" not in targets:
        raise AirflowSkipException("dvc.yaml has no evaluate stage: nothing to gate or promote")
    from deepfake_detect.contracts.decisions import GateDecision

    line = ops.last_line(ops.run("deepfake", "gate").stdout)
    return GateDecision.model_validate_json(line).model_dump(mode="json")


@task
def promote(decision: dict) -> dict:
    if "promote" not in ops.dvc_stages():
        raise AirflowSkipException("dvc.yaml has no promote stage")
    from deepfake_detect.contracts.decisions import PromotionDecision

    ops.run("dvc", "repro", "promote")
    promotion = PromotionDecision.read(ops.project_dir() / PARAMS.promote.decision)
    return {"gate": decision, "promotion": promotion.model_dump(mode="json")}


@task(trigger_rule="none_failed")
def dvc_push(outcome: dict | None = None) -> str:
    """Push what this run versioned (``outcome``: the gate and promotion, None when promote was skipped)."""
    if not ops.has_remote():
        return "no DVC remote configured: nothing pushed"
    ops.run("dvc", "push")
    return "pushed"


@task(trigger_rule="none_failed")
def notify_serving(outcome: dict | None = None, pushed: str | None = None) -> str:
    """Ask serving to load a promoted model now (POST its /reload with the admin key), once it is pushed;
    no service running is logged, not a failure (:func:`dagops.notify_serving`)."""
    import os

    ops.log.info("remote: %s", pushed)
    url = os.environ.get(ops.RELOAD_URL_ENV) or RETRAIN.serving_reload_url
    return ops.notify_serving(url, os.environ.get(PARAMS.serve.admin_key_env), outcome)


@dag(
    dag_id="deepfake_retrain",
    schedule=_schedule(),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["deepfake", "dvc", "retrain"],
    default_args={
        "retries": RETRAIN.retries,
        "retry_delay": timedelta(seconds=RETRAIN.retry_delay_s),
        "execution_timeout": timedelta(seconds=RETRAIN.timeout_s),
        "on_failure_callback": ops.log_failure,
    },
    doc_md=__doc__,
)
def deepfake_retrain():
    """Each task gets what it needs from the one before it: the data flow is the task order."""
    check = check_labels()
    labels_needed(check)
    versioned = version_feedback(check, retrain_wanted(check))
    parts = parts_to_extract(dvc_pull(versioned))
    merged = merge_parts(parts, extract_part.expand(part=parts))
    outcome = promote(evaluation_gate(repro(validate(merged))))
    notify_serving(outcome, dvc_push(outcome))


deepfake_retrain()
