"""Serving request log: one JSON object per scored face, read by drift monitoring.

Files: ``<serve.request_log_dir>/requests-YYYY-MM-DD.jsonl`` (UTC day of the record), JSON Lines.
Schema (every key always present; ``None`` where a value does not apply):

  time         ISO-8601 UTC timestamp of the scoring
  request_id   id shared by the faces of one request
  endpoint     score_video | score_image | score_images | cli
  file         uploaded file name (never a server path)
  frame        frame index in the clip (None for images)
  face         face index within the frame / image
  model_tag    tag of the model that scored it (record.json ``tag``)
  probability  P(FAKE) of the face
  label        FAKE | REAL at the promoted threshold
  confidence   face detector score (None for ready crops)
  face_size    shorter side of the detected box, in original pixels
  width, height, brightness, contrast, sharpness, saturation
               :func:`deepfake_detect.imagestats.crop_stats` of the face crop
  embedding    compact embedding (pooled features projected on the promoted PCA), list of floats

Writing never blocks a request on disk: :meth:`RequestLog.write` puts the records on a queue and
a daemon thread appends them in batches (one ``write`` per file per batch, O_APPEND, so several
server processes can share a file).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

FIELDS = ["time", "request_id", "endpoint", "file", "frame", "face", "model_tag", "probability", "label",
          "confidence", "face_size", "width", "height", "brightness", "contrast", "sharpness", "saturation",
          "embedding"]
FILE_PREFIX = "requests-"
FILE_SUFFIX = ".jsonl"


def log_file(log_dir: str | Path, day: date) -> Path:
    return Path(log_dir) / f"{FILE_PREFIX}{day.isoformat()}{FILE_SUFFIX}"


def make_record(**values: Any) -> dict[str, Any]:
    """A record with every schema key (missing ones None); unknown keys are an error."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"request log: unknown field(s) {sorted(unknown)}")
    rec = {k: values.get(k) for k in FIELDS}
    if rec["time"] is None:
        rec["time"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    return rec


def append_records(log_dir: str | Path, records: list[dict[str, Any]]) -> None:
    """Append records synchronously, grouped by the UTC day of their ``time``."""
    by_file: dict[Path, list[str]] = {}
    for rec in records:
        day = datetime.fromisoformat(rec["time"]).astimezone(UTC).date()
        by_file.setdefault(log_file(log_dir, day), []).append(json.dumps(rec, separators=(",", ":")))
    for path, lines in by_file.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")


class RequestLog:
    """Background writer: ``write`` enqueues, a daemon thread appends; ``flush`` waits for the disk."""

    def __init__(self, log_dir: str | Path, max_queue: int = 100_000):
        self.log_dir = Path(log_dir)
        self.dropped = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()

    def write(self, records: list[dict[str, Any]]) -> None:
        for rec in records:
            try:
                self._queue.put_nowait(rec)
            except queue.Full:  # never block a request on logging; say so instead
                self.dropped += 1
                if self.dropped in (1, 100) or self.dropped % 10_000 == 0:
                    log.warning("request log queue full: %d records dropped so far", self.dropped)

    def flush(self) -> None:
        """Block until every record written so far is on disk."""
        self._queue.join()

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.task_done()
                return
            batch = [first]
            while len(batch) < 1000:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # re-queue the stop marker after this batch
                    self._queue.task_done()
                    break
                batch.append(nxt)
            try:
                append_records(self.log_dir, batch)
            except OSError as exc:
                log.error("request log: cannot append %d records to %s: %s", len(batch), self.log_dir, exc)
            finally:
                for _ in batch:
                    self._queue.task_done()


def _as_utc(t: datetime | str | None) -> datetime | None:
    if t is None:
        return None
    t = datetime.fromisoformat(t) if isinstance(t, str) else t
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def read_request_log(log_dir: str | Path, start: datetime | str | None = None,
                     end: datetime | str | None = None) -> pd.DataFrame:
    """Records with ``start <= time < end`` (UTC; naive datetimes are taken as UTC) as a DataFrame,
    ``time`` parsed to a UTC timestamp. Malformed lines are skipped with a warning naming the file."""
    log_dir = Path(log_dir)
    start, end = _as_utc(start), _as_utc(end)
    rows: list[dict[str, Any]] = []
    for path in sorted(log_dir.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}")):
        try:
            day = date.fromisoformat(path.name[len(FILE_PREFIX):-len(FILE_SUFFIX)])
        except ValueError:
            continue
        day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if (start and day_start + timedelta(days=1) <= start) or (end and day_start >= end):
            continue
        bad = 0
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    t = _as_utc(rec["time"])
                except (ValueError, KeyError, TypeError):
                    bad += 1
                    continue
                if (start and t < start) or (end and t >= end):
                    continue
                rows.append(rec)
        if bad:
            log.warning("%s: %d malformed request-log line(s) skipped", path, bad)
    df = pd.DataFrame(rows, columns=FIELDS) if rows else pd.DataFrame(columns=FIELDS)
    df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    return df.sort_values("time", kind="stable").reset_index(drop=True)
