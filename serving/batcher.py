"""Batching without waiting, for the model in the front process (``serve.model_in_front``).

BentoML's adaptive batching lives in a service's server, so a model called in-process gets none: each
request's crops would go to the model alone, from as many threads as the front serves at once. Here
a call that finds the model idle runs at once with every crop queued so far; calls that come while
the model is busy queue, and the next free caller takes them all as one batch. A lone request never
waits for company (no latency window), and concurrent requests share one model call."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np


class _Call:
    __slots__ = ("crops", "done", "error", "result")

    def __init__(self, crops: np.ndarray) -> None:
        self.crops = crops
        self.done = False
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None


class NaturalBatcher:
    """``fn`` (a batch of crops → one row per crop) called on the merged crops of concurrent callers,
    at most ``max_batch`` crops a call (a larger single call goes alone), one call at a time."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], max_batch: int) -> None:
        self.fn, self.max_batch = fn, max_batch
        self._cond = threading.Condition()
        self._queue: list[_Call] = []
        self._busy = False
        self.calls = 0  # model calls made (a test and the logs read it)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        me = _Call(crops)
        with self._cond:
            self._queue.append(me)
        while True:
            with self._cond:
                self._cond.wait_for(lambda: me.done or not self._busy)
                if me.done:
                    break
                batch = self._take()
                self._busy = True
            self._run(batch)
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    def _take(self) -> list[_Call]:
        """The queue's head, up to ``max_batch`` crops (callers hold the condition)."""
        batch, n = [], 0
        while self._queue and (not batch or n + len(self._queue[0].crops) <= self.max_batch):
            call = self._queue.pop(0)
            batch.append(call)
            n += len(call.crops)
        return batch

    def _run(self, batch: list[_Call]) -> None:
        try:
            out = np.asarray(self.fn(np.concatenate([c.crops for c in batch])))
            if len(out) != sum(len(c.crops) for c in batch):
                raise RuntimeError(f"model returned {len(out)} rows for {sum(len(c.crops) for c in batch)} crops")
            start = 0
            for call in batch:
                call.result = out[start : start + len(call.crops)]
                start += len(call.crops)
        except BaseException as exc:  # every caller of this batch gets it; the next batch still runs
            for call in batch:
                call.error = exc
        with self._cond:
            self.calls += 1
            for call in batch:
                call.done = True
            self._busy = False
            self._cond.notify_all()
