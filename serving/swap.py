"""The gate a model swap passes: requests share it, a swap holds it alone.

A swap waits until the requests in flight have finished (on the old model), and requests that come
meanwhile wait until the swap is done (then run on the new one): no request is scored by one model
and labelled with another's threshold and tag. Also the typed handshake of a reload between the front
and the model service (:class:`Prepared`) and the front's answer (:class:`Reloaded`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Literal

from deepfake_detect.contracts import Contract
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


class Prepared(Contract):
    """The model service's answer to the front's polled ``prepare`` (the reload handshake)."""

    state: Literal["loading", "unchanged", "ready", "failed"]  # loading: poll again; ready: ``swap`` serves it
    model: ModelInfo | None = None  # unchanged: the served model; ready: the model ``swap`` will serve
    error: str | None = None  # failed: why the store's model cannot be loaded (the served one stays)


class Reloaded(Contract):
    """``/reload``'s answer: the model served now and the one before."""

    changed: bool
    tag: str
    bento_tag: str | None
    previous: str
    previous_bento_tag: str | None
