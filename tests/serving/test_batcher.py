"""Batching without waiting (serving/batcher.py, the model in the front process): concurrent callers
share model calls and each gets its own rows back; a lone caller runs at once; a failing call fails
only its own batch."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from serving.batcher import NaturalBatcher


class SlowModel:
    """Each crop's row is its mean and its sum (so a row that went to the wrong caller shows); each call
    takes 50 ms, like a model call, so callers pile up behind it."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        self.batch_sizes.append(len(crops))
        time.sleep(0.05)
        flat = crops.reshape(len(crops), -1).astype(np.float64)
        return np.stack([flat.mean(axis=1), flat.sum(axis=1)], axis=1)


def test_concurrent_callers_share_model_calls_and_get_their_own_rows():
    model = SlowModel()
    batcher = NaturalBatcher(model, max_batch=6)
    rng = np.random.default_rng(0)
    inputs = [rng.integers(0, 255, (1 + i % 3, 4, 4, 3), dtype=np.uint8) for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        outputs = list(pool.map(batcher, inputs))
    for crops, out in zip(inputs, outputs, strict=True):
        np.testing.assert_allclose(out, model.__class__()(crops))
    assert sum(model.batch_sizes) == sum(len(c) for c in inputs)
    assert batcher.calls == len(model.batch_sizes) < len(inputs)  # merged
    assert max(model.batch_sizes) <= 6


def test_a_lone_caller_runs_at_once():
    model = SlowModel()
    batcher = NaturalBatcher(model, max_batch=64)
    started = time.perf_counter()
    batcher(np.zeros((1, 4, 4, 3), np.uint8))
    assert time.perf_counter() - started < 0.05 + 0.04  # the model's 50 ms, no window on top
    assert model.batch_sizes == [1]


def test_a_failing_call_fails_its_own_batch_only():
    calls = []

    def fragile(crops: np.ndarray) -> np.ndarray:
        calls.append(len(crops))
        time.sleep(0.05)
        if (crops == 7).any():
            raise ValueError("bad crop")
        return crops.reshape(len(crops), -1)[:, :1].astype(np.float64)

    batcher = NaturalBatcher(fragile, max_batch=1)  # one crop a call: the bad one is alone
    results: dict[int, object] = {}

    def one(v: int) -> None:
        try:
            results[v] = batcher(np.full((1, 2, 2, 3), v, np.uint8))
        except ValueError as exc:
            results[v] = exc

    threads = [threading.Thread(target=one, args=(v,)) for v in (1, 7, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(results[7], ValueError)
    assert results[1][0, 0] == 1 and results[3][0, 0] == 3
    with pytest.raises(ValueError, match="bad crop"):
        batcher(np.full((1, 2, 2, 3), 7, np.uint8))
