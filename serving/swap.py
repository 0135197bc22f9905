"""The gate a model swap passes: requests share it, a swap holds it alone.

A swap waits until the requests in flight have finished (on the old model), and requests that come
meanwhile wait until the swap is done (then run on the new one): no request is scored by one model
and labelled with another's threshold and tag."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


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
