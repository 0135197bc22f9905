"""Parses dags/ with a metadata DB that cannot be opened, and prints the DAGs' shape as JSON.
Any database work at parse time fails the import (test_dag_parse.py runs this in a subprocess)."""

from __future__ import annotations

import json
import os


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    out = {"errors": {k: str(v)[-500:] for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id, dag in bag.dags.items():
        out["dags"][dag_id] = {
            "schedule": repr(dag.timetable),
            "max_active_runs": dag.max_active_runs,
            "catchup": dag.catchup,
            "tasks": {
                t.task_id: {
                    "retries": t.retries,
                    "mapped": "Mapped" in type(t).__name__,
                    "outlets": [getattr(o, "name", str(o)) for o in t.outlets],
                    "callback": bool(t.on_failure_callback),
                    "trigger_rule": str(t.trigger_rule),
                    "timeout_s": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                }
                for t in dag.tasks
            },
            "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
        }
    print("PARSE-RESULT " + json.dumps(out, default=str))


if __name__ == "__main__":
    main()
