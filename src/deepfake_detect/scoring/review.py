"""The review queue: the face crops of served requests that need a person, and their labels.

Opt-in (``serve.review.keep_crops``, off by default). When the service writes a request to the
request log it offers the request here (:class:`recorder.Recorder`); the request's face crops, never the
upload itself, are kept when it needs a person (:func:`review_reason`):

* ``margin``  its P(FAKE) is within ``serve.review.margin`` of the threshold (the model is unsure);
* ``drift``   ``serve.review.on_drift`` and the latest drift result (``drift.report_dir/latest.json``,
              written by ``deepfake drift``) says the traffic drifted: every request is kept;
* ``audit``   a random ``serve.review.audit_rate`` share of the rest (are the confident answers right?).

Each kept request is one folder ``<serve.review.dir>/<id>/``: ``item.json`` (:class:`ReviewItem`: its
request-log id, file name, score, threshold, model tag, time, why it was kept, later the label) and
its crops as JPEG. Items older than ``serve.review.days`` are deleted when a queue opens and when the
UTC day changes. A queue that cannot write logs an error and never fails the request. Adding,
labelling and deleting an item hold the queue's file lock (:func:`deepfake_detect.files.locked`), so
``deepfake review label`` in parallel with the server and with itself loses nothing.

``deepfake review label`` (:func:`feedback.label_item`) turns a labelled item into training data.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import random
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2

from deepfake_detect.config import Params, ReviewParams
from deepfake_detect.contracts.base import Contract, ContractError
from deepfake_detect.contracts.drift import DriftResult
from deepfake_detect.contracts.review import ReviewCrop, ReviewItem, ReviewReason
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.files import locked
from deepfake_detect.scoring.names import clean_name

log = logging.getLogger(__name__)

ITEM_FILE = "item.json"
__all__ = ["ITEM_FILE", "ReviewCrop", "ReviewError", "ReviewItem", "ReviewListing", "ReviewQueue", "review_reason"]
ORPHAN_TMP_S = 24 * 3600  # a hidden temp folder this old belongs to no live writer


class ReviewError(DeepfakeError, ValueError):
    """An unknown review item or a label that is not REAL or FAKE (the message says which)."""


class ReviewEntry(Contract):
    """One item as the reviewer page lists it: the item and a thumbnail of its first crop."""

    item: ReviewItem
    thumbnail: str | None  # base64 JPEG of its first crop (None when unreadable)


class ReviewListing(Contract):
    """The review queue, newest first (the service's ``/review_items``)."""

    enabled: bool  # serve.review.keep_crops
    waiting: int  # items with no label yet
    labelled: int
    items: list[ReviewEntry]


def review_reason(
    score: float, threshold: float, rp: ReviewParams, *, drifted: bool, draw: float
) -> ReviewReason | None:
    """Why a request scored ``score`` needs a person, or None; ``draw`` is uniform in [0, 1)."""
    if abs(score - threshold) <= rp.margin:
        return "margin"
    if rp.on_drift and drifted:
        return "drift"
    if draw < rp.audit_rate:
        return "audit"
    return None


def item_id(request_id: str, file: str) -> str:
    """A short id for one file of one request (a /score_images request scores several)."""
    return hashlib.sha1(f"{request_id}/{file}".encode(), usedforsecurity=False).hexdigest()[:12]


def _crop_name(frame: int | None, face: int) -> str:
    return f"f{frame:04d}_{face}.jpg" if frame is not None else f"image_{face}.jpg"


class ReviewQueue:
    """The kept requests under ``serve.review.dir``: offer, list, read, prune."""

    def __init__(self, params: Params):
        self.rp = params.serve.review
        self.dir = Path(self.rp.dir)
        self.latest_drift = Path(params.drift.report_dir) / "latest.json"
        self.jpeg_quality = params.extract.jpeg_quality
        self._rng = random.Random()
        self._drift_seen: tuple[int, int, int] | None = None
        self._drifted = False
        self._pruned_on = datetime.now(UTC).date()
        self.prune()

    # ----- keeping

    def consider(
        self,
        *,
        request_id: str,
        endpoint: str,
        file: str,
        model_tag: str,
        threshold: float,
        score: float | None,
        faces: Sequence[Any],
    ) -> ReviewItem | None:
        """Keep this request's face crops when it needs a person (:func:`review_reason`); the item, or None."""
        if score is None or not faces:
            return None
        reason = review_reason(score, threshold, self.rp, drifted=self.drifted(), draw=self._rng.random())
        if reason is None:
            return None
        now = datetime.now(UTC)
        if now.date() != self._pruned_on:
            self._pruned_on = now.date()
            self.prune(now)
        crops = [
            ReviewCrop(
                name=_crop_name(f.frame, f.face),
                frame=f.frame,
                face=f.face,
                person=f.person,
                probability=round(float(f.probability), 6),
            )
            for f in faces
        ]
        item = ReviewItem(
            id=item_id(request_id, file),
            request_id=request_id,
            endpoint=endpoint,
            file=clean_name(file),
            time=now.isoformat(timespec="milliseconds"),
            model_tag=model_tag,
            score=round(float(score), 6),
            threshold=threshold,
            reason=reason,
            crops=crops,
        )
        try:
            return self._write(item, [f.crop for f in faces])
        except OSError as exc:  # the answer matters more than the queue: say so, go on
            log.error("review queue %s: cannot keep request %s: %s", self.dir, request_id, exc)
            return None

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """The queue's lock (``.<dir>.lock`` beside it): held to add, label or delete an item."""
        return locked(self.dir)

    def _write(self, item: ReviewItem, images: Sequence[Any]) -> ReviewItem:
        """The crops and item.json into a hidden folder of its own, then one rename under the queue's lock:
        an item is whole or absent. A second file of the same name in one request gets an id of its own."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{item.id}.", suffix=".tmp", dir=self.dir))
        try:
            for crop, rgb in zip(item.crops, images, strict=True):
                ok, jpg = cv2.imencode(
                    ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]
                )
                if not ok:
                    raise OSError(f"could not encode crop {crop.name}")
                (tmp / crop.name).write_bytes(jpg.tobytes())
            with self.locked():
                n = 1
                while (self.dir / item.id).exists():  # the same name twice in one /score_images request
                    n += 1
                    item = item.model_copy(update={"id": item_id(item.request_id, f"{item.file}#{n}")})
                item.write(tmp / ITEM_FILE)
                tmp.rename(self.dir / item.id)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename happened
        return item

    def drifted(self) -> bool:
        """What the latest drift result says, re-read only when the file changes."""
        try:
            st = self.latest_drift.stat()
        except FileNotFoundError:
            self._drift_seen, self._drifted = None, False
            return False
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)  # drift writes it by rename: a new inode each time
        if seen != self._drift_seen:
            try:
                self._drifted = DriftResult.read(self.latest_drift).drift_detected
            except ContractError as exc:
                log.warning("review queue: ignoring the drift result: %s", exc)
                self._drifted = False
            self._drift_seen = seen
        return self._drifted

    # ----- reading

    def items(self) -> list[ReviewItem]:
        """Every kept item, oldest first (an unreadable item.json is skipped with a warning)."""
        return sorted(self._folders().values(), key=lambda i: i.time)

    def _folders(self) -> dict[Path, ReviewItem]:
        out = {}
        for path in sorted(self.dir.glob(f"[!.]*/{ITEM_FILE}")) if self.dir.is_dir() else []:
            try:
                out[path.parent] = ReviewItem.read(path)
            except ContractError as exc:
                log.warning("review queue: skipping %s", exc)
        return out

    def get(self, wanted: str) -> ReviewItem:
        """The item with this id, or the one whose id starts with it."""
        exact = self.dir / wanted / ITEM_FILE
        if wanted and "/" not in wanted and exact.is_file():
            return ReviewItem.read(exact)
        matches = [i for i in self.items() if wanted and i.id.startswith(wanted)]
        if len(matches) != 1:
            why = "matches several items" if matches else "is not in the review queue"
            raise ReviewError(f"review item {wanted!r} {why} ({self.dir}; `deepfake review list` shows them)")
        return matches[0]

    def listing(self, labelled: bool = False, limit: int = 200) -> ReviewListing:
        """Up to ``limit`` items waiting for a label (and the labelled ones with ``labelled``), newest first."""
        items = self.items()
        waiting = sum(1 for i in items if i.label is None)
        shown = [i for i in reversed(items) if labelled or i.label is None][:limit]
        return ReviewListing(
            enabled=self.rp.keep_crops,
            waiting=waiting,
            labelled=len(items) - waiting,
            items=[ReviewEntry(item=i, thumbnail=self._thumbnail(i)) for i in shown],
        )

    def _thumbnail(self, item: ReviewItem) -> str | None:
        try:
            return base64.b64encode(self.crop_path(item, item.crops[0]).read_bytes()).decode() if item.crops else None
        except OSError:  # pruned or labelled away meanwhile
            return None

    def crop_path(self, item: ReviewItem, crop: ReviewCrop) -> Path:
        return self.dir / item.id / crop.name

    def prune(self, now: datetime | None = None) -> list[str]:
        """Delete items kept longer than ``serve.review.days`` (and temp folders a killed writer left); their ids."""
        now = now or datetime.now(UTC)
        oldest = now - timedelta(days=self.rp.days)
        with self.locked():
            expired = {f: i for f, i in self._folders().items() if datetime.fromisoformat(i.time) < oldest}
            for folder in expired:
                shutil.rmtree(folder, ignore_errors=True)
            stale = now.timestamp() - ORPHAN_TMP_S
            for tmp in self.dir.glob(".*.tmp") if self.dir.is_dir() else []:
                with contextlib.suppress(FileNotFoundError):
                    if tmp.stat().st_mtime < stale:
                        shutil.rmtree(tmp, ignore_errors=True)
        removed = [i.id for i in expired.values()]
        if removed:
            log.info(
                "review queue: %d item(s) older than %d days deleted from %s", len(removed), self.rp.days, self.dir
            )
        return removed
