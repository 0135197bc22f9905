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
               :func:`deepfake_detect.media.images.crop_stats` of the face crop
  embedding    compact embedding (pooled features projected on the promoted PCA), list of floats
  ood_score    distance of the embedding from the training faces (record.json ``ood``; None without one)
  unfamiliar   ood_score past the threshold fitted on val: a face unlike the training data
  bits_per_pixel  the clip's video bits per pixel of each frame (None for images)
  too_compressed  the clip is below the release's bits-per-pixel floor (record.json ``compression``;
               None for images or without one): compressed harder than the training clips

Writing never blocks a request on disk: :meth:`RequestLog.write` puts the records on a queue and
a daemon thread appends them in batches (one ``write`` call per file per batch, O_APPEND, so several
server processes can share a file and a killed process leaves whole lines). :meth:`RequestLog.close`
(the service's shutdown hook, and ``atexit`` for any other exit) drains the queue first: records
queued when the process stops reach the disk. Day files older than ``keep_days`` are deleted when
the log opens and when the UTC day changes.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field, ValidationError

from deepfake_detect.contracts.base import Contract
from deepfake_detect.scoring.result import Verdict

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class RequestLogRecord(Contract):
    """One line of the request log (the schema above); every key is written, None where it does not apply."""

    time: str = Field(default_factory=_now)
    request_id: str | None = None
    endpoint: str | None = None
    file: str | None = None
    frame: int | None = None
    face: int | None = None
    model_tag: str | None = None
    probability: float | None = None
    label: Verdict | None = None
    confidence: float | None = None
    face_size: int | None = None
    width: int | None = None
    height: int | None = None
    brightness: float | None = None
    contrast: float | None = None
    sharpness: float | None = None
    saturation: float | None = None
    embedding: list[float] | None = None
    ood_score: float | None = None  # distance from the training embeddings (record.json ood)
    unfamiliar: bool | None = None  # ood_score past the model's threshold
    bits_per_pixel: float | None = None  # the clip's (MediaInfo.bits_per_pixel)
    too_compressed: bool | None = None  # the clip below the release's CompressionFit floor


FIELDS = list(RequestLogRecord.model_fields)
FILE_PREFIX = "requests-"
FILE_SUFFIX = ".jsonl"


def log_file(log_dir: str | Path, day: date) -> Path:
    return Path(log_dir) / f"{FILE_PREFIX}{day.isoformat()}{FILE_SUFFIX}"


def make_record(**values: Any) -> RequestLogRecord:
    """A record with every schema key (missing ones None, ``time`` now); unknown keys are an error."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"request log: unknown field(s) {sorted(unknown)}")
    return RequestLogRecord(**{k: v for k, v in values.items() if k != "time" or v is not None})


def append_records(log_dir: str | Path, records: list[RequestLogRecord]) -> None:
    """Append records synchronously, grouped by the UTC day of their ``time``: one ``write`` call
    per file, so a crash never leaves half a line behind another process's records."""
    by_file: dict[Path, list[str]] = {}
    for rec in records:
        day = datetime.fromisoformat(rec.time).astimezone(UTC).date()
        by_file.setdefault(log_file(log_dir, day), []).append(rec.model_dump_json())
    for path, lines in by_file.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = ("\n".join(lines) + "\n").encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
            while written < len(data):  # a regular file takes it all at once; this is for the odd signal
                written += os.write(fd, data[written:])
        finally:
            os.close(fd)


def log_day(path: Path) -> date | None:
    """The UTC day a request-log file holds, None for any other file."""
    name = path.name
    if not (name.startswith(FILE_PREFIX) and name.endswith(FILE_SUFFIX)):
        return None
    try:
        return date.fromisoformat(name[len(FILE_PREFIX) : -len(FILE_SUFFIX)])
    except ValueError:
        return None


def prune(log_dir: str | Path, keep_days: int, today: date | None = None) -> list[Path]:
    """Delete day files more than ``keep_days`` days before ``today`` (UTC); 0 keeps everything."""
    if keep_days <= 0 or not Path(log_dir).is_dir():
        return []
    oldest = (today or datetime.now(UTC).date()) - timedelta(days=keep_days - 1)
    removed = []
    for path in Path(log_dir).glob(f"{FILE_PREFIX}*{FILE_SUFFIX}"):
        day = log_day(path)
        if day is not None and day < oldest:
            path.unlink(missing_ok=True)  # another server process may have pruned it already
            removed.append(path)
    if removed:
        log.info("request log: %d day file(s) older than %d days deleted from %s", len(removed), keep_days, log_dir)
    return removed


class RequestLog:
    """Background writer: ``write`` enqueues, a daemon thread appends; ``flush`` waits for the disk,
    ``close`` drains and stops it (also run at interpreter exit); after ``close`` writes are synchronous."""

    def __init__(self, log_dir: str | Path, max_queue: int = 100_000, keep_days: int = 0):
        self.log_dir = Path(log_dir)
        self.keep_days = keep_days
        self.dropped = 0
        self._closed = False
        self._close_lock = threading.Lock()
        self._pruned_on = datetime.now(UTC).date()
        prune(self.log_dir, keep_days, self._pruned_on)
        self._queue: queue.Queue[RequestLogRecord | None] = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def write(self, records: list[RequestLogRecord]) -> None:
        with self._close_lock:  # nothing is queued behind close()'s stop marker
            if not self._closed:
                for rec in records:
                    self._enqueue(rec)
                return
        self._append(records)  # a request finishing during shutdown: straight to disk

    def _enqueue(self, rec: RequestLogRecord) -> None:
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
        """Write everything queued, then stop the writer thread (idempotent)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)  # after every queued record: the writer drains them, then stops
        self._thread.join()
        atexit.unregister(self.close)
        if self.dropped:
            log.warning("request log closed: %d records were dropped (queue full)", self.dropped)

    def _append(self, batch: list[RequestLogRecord]) -> None:
        today = datetime.now(UTC).date()
        if today != self._pruned_on:
            self._pruned_on = today
            prune(self.log_dir, self.keep_days, today)
        try:
            append_records(self.log_dir, batch)
        except OSError as exc:
            log.error("request log: cannot append %d records to %s: %s", len(batch), self.log_dir, exc)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.task_done()
                return
            batch = [first]
            stop = False
            while len(batch) < 1000:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    self._queue.task_done()
                    break
                batch.append(nxt)
            try:
                self._append(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if stop:
                return


def _as_utc(t: datetime | str | None) -> datetime | None:
    if t is None:
        return None
    t = datetime.fromisoformat(t) if isinstance(t, str) else t
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def read_request_log(
    log_dir: str | Path, start: datetime | str | None = None, end: datetime | str | None = None
) -> pd.DataFrame:
    """Records with ``start <= time < end`` (UTC; naive datetimes are taken as UTC) as a DataFrame,
    ``time`` parsed to a UTC timestamp. Malformed lines are skipped with a warning naming the file."""
    log_dir = Path(log_dir)
    start, end = _as_utc(start), _as_utc(end)
    rows: list[dict[str, Any]] = []
    for path in sorted(log_dir.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}")):
        day = log_day(path)
        if day is None:
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
                    rec = RequestLogRecord.model_validate_json(line)
                    t = _as_utc(rec.time)
                except (ValidationError, ValueError):
                    bad += 1
                    continue
                if (start and t < start) or (end and t >= end):
                    continue
                rows.append(rec.model_dump())
        if bad:
            log.warning("%s: %d malformed request-log line(s) skipped", path, bad)
    df = pd.DataFrame(rows, columns=FIELDS) if rows else pd.DataFrame(columns=FIELDS)
    df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    return df.sort_values("time", kind="stable").reset_index(drop=True)
