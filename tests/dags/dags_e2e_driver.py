"""Runs both DAGs with ``dag.test()`` inside a prepared project copy and prints what happened as
JSON. test_dags_e2e.py starts it in a subprocess, so Airflow reads its configuration (SQLite
AIRFLOW_HOME in a temp dir, the copy's dags/) from that process's environment only.

    python dags_e2e_driver.py SHIFTED_DIR

The windows are written next to SHIFTED_DIR after the retrain run made the crops (see
window_folders).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2


def window_folders(split_manifest: Path, same: Path, shifted: Path) -> int:
    """The no-drift window: the reference split's own crops (drift.reference_split = train in the
    test params); the drift window: the same crops blurred and recompressed (JPEG q=50). Not q=8: its
    blocking adds the high-frequency energy the blur took away, and on the tiny sample's crops, framed
    tight as Kaggle's (extract.margin 0), sharpness then rose instead of falling (KS p 0.019, not drifted)."""
    import pandas as pd

    rows = pd.read_csv(split_manifest)
    rows = rows[rows["split"] == "train"].drop_duplicates("crop_id")
    same.mkdir(parents=True, exist_ok=True)
    shifted.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(rows["path"]):
        img = cv2.imread(str(path))
        cv2.imwrite(str(same / f"{i:04d}.png"), img)
        cv2.imwrite(str(shifted / f"{i:04d}.jpg"), cv2.GaussianBlur(img, (0, 0), 3), [cv2.IMWRITE_JPEG_QUALITY, 50])
    return len(rows)


def main(shifted_dir: str) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.models.dag import DagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    out: dict = {"import_errors": {k: str(v)[-300:] for k, v in bag.import_errors.items()}}

    def tasks(run) -> dict[str, str]:
        with create_session() as s:
            tis = s.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
            return {f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state) for ti in tis}

    def queued() -> int:
        with create_session() as s:
            return s.query(AssetDagRunQueue).filter_by(target_dag_id="deepfake_retrain").count()

    def events() -> list[dict]:
        with create_session() as s:
            rows = (
                s.query(AssetEvent)
                .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                .filter(AssetModel.name == "deepfake_drift")
                .all()
            )
            return [dict(e.extra or {}) for e in rows]

    run = bag.get_dag("deepfake_retrain").test()
    out["retrain"] = {"state": str(run.state), "tasks": tasks(run)}
    # a second run with nothing new: the fan-out maps over no part, every stage is cached
    run = bag.get_dag("deepfake_retrain").test()
    out["retrain_again"] = {"state": str(run.state), "tasks": tasks(run)}
    same_dir = Path(shifted_dir).with_name("same")
    out["window_crops"] = window_folders(Path("data/split/manifest.csv"), same_dir, Path(shifted_dir))
    monitor = bag.get_dag("deepfake_monitor")
    run = monitor.test(run_conf={"media": str(same_dir), "crops": True})
    with create_session() as s:
        paused = s.query(DagModel).filter_by(dag_id="deepfake_retrain").one().is_paused
    out["monitor_quiet"] = {
        "state": str(run.state),
        "tasks": tasks(run),
        "queued": queued(),
        "events": len(events()),
        "retrain_paused": paused,
    }
    run = monitor.test(run_conf={"media": shifted_dir, "crops": True})
    evs = events()
    out["monitor_drift"] = {
        "state": str(run.state),
        "tasks": tasks(run),
        "queued": queued(),
        "events": len(evs),
        "extra": evs[-1] if evs else None,
    }
    print("E2E-RESULT " + json.dumps(out, default=str))


if __name__ == "__main__":
    main(sys.argv[1])
