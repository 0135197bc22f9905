"""Calls the retrain DAG's first tasks (check_labels, retrain_wanted, labels_needed) as a drift event and
as the schedule would start them, inside a prepared project, and prints what each decided as JSON.
test_retrain_labels.py runs it in a subprocess: Airflow reads its configuration from that environment.
The tasks are the DAG file's own; only Airflow's run context (the triggering events, the outlet
events accessor) is built here, as plain objects with the attributes the tasks read."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import AirflowSkipException

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["deepfake_retrain"]  # get_dag would ask the metadata database
    labels = dag.get_task("labels_needed")
    out = {}
    for trigger in ("drift", "schedule"):
        events = {"deepfake_drift": [SimpleNamespace(extra={"drift_detected": True})]} if trigger == "drift" else {}
        check = dag.get_task("check_labels").python_callable(triggering_asset_events=events)
        outlet_events = {labels.outlets[0]: SimpleNamespace(extra=None)}
        try:
            said = labels.python_callable(check, outlet_events=outlet_events)
        except AirflowSkipException:
            said = "skipped"
        out[trigger] = {
            "retrain": dag.get_task("retrain_wanted").python_callable(check),
            "labels_needed": said,
            "published": outlet_events[labels.outlets[0]].extra,
            "asset": labels.outlets[0].name,
        }
    print("LABELS-RESULT " + json.dumps(out, default=str))


if __name__ == "__main__":
    main()
