"""Labels → the feedback dataset, and what it holds that the served model has not seen.

:func:`label_item` (``deepfake review label``) copies a kept request's crops into
``data.feedback_dir`` in the Kaggle deepfake-faces layout (``metadata.csv`` + ``faces_224/*.jpg``):
every crop of a request names the request (its review item id) as ``original``, which the reader
(:func:`sources.list_ready_crops`) takes as the group, REAL rows too, so a clip never straddles the
split. Beside the layout's columns, each row keeps the request-log id, the model tag and score it
was served with, why it was kept, when it was labelled and the reviewer's note. The folder is the
output of dvc.yaml's feedback stage (DVC-versioned) and a second source of the extract stage.

:func:`label_status` (``deepfake review status``) counts the queue and the labels, and how many were
made after the served model was promoted: the retrain DAG retrains on drift only when there are some.
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import cv2
import pandas as pd

from deepfake_detect.config import Params
from deepfake_detect.contracts.base import Contract
from deepfake_detect.contracts.model import ModelRecord
from deepfake_detect.data.manifest import LABELS, write_csv
from deepfake_detect.files import atomic_path, locked
from deepfake_detect.scoring.review import ITEM_FILE, ReviewError, ReviewItem, ReviewQueue

log = logging.getLogger(__name__)

FEEDBACK_COLUMNS = [  # the deepfake-faces columns, then what the service and the reviewer knew
    "videoname",
    "original_width",
    "original_height",
    "label",
    "original",
    "request_id",
    "model_tag",
    "score",
    "reason",
    "labelled_at",
    "note",
]


def label_item(params: Params, wanted: str, label: str, note: str | None = None) -> ReviewItem:
    """Label a kept request: its crops into ``data.feedback_dir``, replacing an earlier label of it;
    the item records the label."""
    label = label.strip().upper()
    if label not in LABELS:
        raise ReviewError(f"label {label!r} is not REAL or FAKE")
    queue = ReviewQueue(params)
    feedback = Path(params.data.feedback_dir)
    with queue.locked(), locked(feedback):  # the queue's lock first, everywhere: no two labels interleave
        item = queue.get(wanted)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows = _copy_crops(queue, item, feedback, {"label": label, "labelled_at": now, "note": note or ""})
        meta_path = feedback / "metadata.csv"
        old = read_feedback(feedback)
        kept = old[old["original"] != item.id]
        new = pd.DataFrame(rows, columns=FEEDBACK_COLUMNS)
        write_csv(pd.concat([kept, new], ignore_index=True) if len(kept) else new, meta_path, FEEDBACK_COLUMNS)
        labelled = item.model_copy(update={"label": label, "note": note, "labelled_at": now})
        labelled.write(queue.dir / item.id / ITEM_FILE)
    log.info("review item %s labelled %s: %d crop(s) in %s", item.id, label, len(rows), feedback)
    return labelled


def _copy_crops(queue: ReviewQueue, item: ReviewItem, feedback: Path, given: dict[str, str]) -> list[dict]:
    """The item's crops into ``feedback/faces_224``; their metadata rows (``given``: label, labelled_at, note)."""
    (feedback / "faces_224").mkdir(parents=True, exist_ok=True)
    rows = []
    for crop in item.crops:
        stem = f"{item.id}_{Path(crop.name).stem}"
        image = cv2.imread(str(queue.crop_path(item, crop)))
        if image is None:
            raise ReviewError(f"review item {item.id}: crop {crop.name} is missing or unreadable")
        with atomic_path(feedback / "faces_224" / f"{stem}.jpg") as tmp:
            shutil.copyfile(queue.crop_path(item, crop), tmp)
        height, width = image.shape[:2]
        rows.append(
            {
                "videoname": f"{stem}.jpg",
                "original_width": width,  # the crop's size: the upload itself is never kept
                "original_height": height,
                "original": item.id,  # the request's clip: the group of every crop of it, REAL ones too
                "request_id": item.request_id,
                "model_tag": item.model_tag,
                "score": item.score,
                "reason": item.reason,
                **given,
            }
        )
    return rows


def read_feedback(folder: Path) -> pd.DataFrame:
    """The feedback dataset's metadata (empty with its columns when there is none yet)."""
    path = Path(folder) / "metadata.csv"
    if not path.is_file():
        return pd.DataFrame(columns=FEEDBACK_COLUMNS)
    return pd.read_csv(path, dtype=str)


class LabelStatus(Contract):
    """The review queue and the feedback dataset against the served model (``deepfake review status``)."""

    waiting: int  # kept requests with no label yet
    labelled: int  # crops in the feedback dataset
    new_labels: int  # of those, labelled after the served model was promoted (all of them when none is)
    served: str | None  # the served release's tag (None when nothing is promoted)
    promoted_at: str | None


def label_status(params: Params) -> LabelStatus:
    meta = read_feedback(params.data.feedback_dir)
    record_path = Path(params.promote.dir) / "record.json"
    record = ModelRecord.read(record_path) if record_path.is_file() else None
    promoted = _utc(record.promoted_at) if record and record.promoted_at else None
    if "labelled_at" not in meta.columns:  # a folder filled by hand: its file's time stands for every row
        meta["labelled_at"] = None
    when = []
    if len(meta):
        stamp = datetime.fromtimestamp((Path(params.data.feedback_dir) / "metadata.csv").stat().st_mtime, UTC)
        when = [_utc(t) if isinstance(t, str) and t else stamp for t in meta["labelled_at"]]
    return LabelStatus(
        waiting=sum(1 for i in ReviewQueue(params).items() if i.label is None),
        labelled=len(meta),
        new_labels=sum(1 for t in when if promoted is None or t > promoted),
        served=record.tag if record else None,
        promoted_at=record.promoted_at if record else None,
    )


def retrain_wanted(status: LabelStatus, drift_triggered: bool) -> bool:
    """A scheduled (or manual) run retrains; a drift-triggered one only with labels the model has not seen:
    retraining on the same data gives the same model."""
    return not drift_triggered or status.new_labels > 0


def _utc(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)
