"""The gate a model swap passes: requests share it, a swap holds it alone; the release marker.

A swap waits until the requests in flight have finished (on the old model), and requests that come
meanwhile wait until the swap is done (then run on the new one): no request is scored by one model
and labelled with another's threshold and tag. Also the typed handshake of a reload between the front
and the model service (:class:`Prepared`) and the front's answer (:class:`Reloaded`).

With several front workers, ``/reload`` reaches one of them: it swaps, then writes the
:class:`ReleaseMarker`, and every other worker reads it between requests (a file of a few dozen
bytes) and switches to the model it names."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from deepfake_detect.contracts.base import Contract
from deepfake_detect.scoring.result import ModelInfo


class ModelGate:
    """Many requests at once, or one swap; a waiting swap goes before new requests."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._swapping = False

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._swapping)
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def swap(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._swapping)
            self._swapping = True  # from now on new requests wait
            self._cond.wait_for(lambda: self._active == 0)
        try:
            yield
        finally:
            with self._cond:
                self._swapping = False
                self._cond.notify_all()


class ReleaseMarker:
    """The store tag a server's workers serve, in one small file they all see: written (atomically,
    with a fresh announcement id) by the worker that reloaded, read by every worker between requests
    (a read of a few dozen bytes; a new id is news, even for a tag announced before: a rollback)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: str | None = None  # the announcement id last read

    def announce(self, bento_tag: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps({"bento_tag": bento_tag, "id": uuid.uuid4().hex}))
        os.replace(tmp, self.path)  # readers never see half a file

    def news(self) -> str | None:
        """The announced tag when there is an announcement this reader has not seen, else None."""
        try:
            note = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        if note["id"] == self._seen:
            return None
        self._seen = note["id"]
        return str(note["bento_tag"])

    def look_again(self) -> None:
        """Take the current announcement as news again next time (its model was still loading)."""
        self._seen = None


class Served(Contract):
    """The model a slot of the model service holds (:class:`serving.service.FaceModel` keeps two)."""

    slot: int
    model: ModelInfo


class Prepared(Contract):
    """The model service's answer to the front's polled ``prepare`` (the reload handshake)."""

    state: Literal["loading", "unchanged", "ready", "failed"]  # loading: poll again; ready: ``swap`` serves it
    slot: int | None = None  # unchanged, ready: the slot holding the model
    model: ModelInfo | None = None  # unchanged: the served model; ready: the model ``swap`` will serve
    error: str | None = None  # failed: why the store's model cannot be loaded (the served one stays)


class Reloaded(Contract):
    """``/reload``'s answer: the model served now and the one before."""

    changed: bool
    tag: str
    bento_tag: str | None
    previous: str
    previous_bento_tag: str | None
