"""The test split cut apart: the old rows against the feedback rows (the release rule weighs the
old ones), and each dataset (the manifest's ``dataset`` column, else ``source``) per face, person
and video, every block with bootstrap intervals over whole videos."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfake_detect.config import EvaluateParams
from deepfake_detect.contracts.metrics import BinaryMetrics, DatasetMetrics
from deepfake_detect.data.manifest import FEEDBACK_SOURCE
from deepfake_detect.release.metrics import binary_metrics, bootstrap_intervals

Levels = dict[str, tuple[pd.DataFrame, pd.DataFrame, float]]  # level -> (val rows, test rows, val-chosen threshold)


def dataset_column(df: pd.DataFrame) -> str | None:
    """The manifest column naming each row's dataset: ``dataset`` when the manifest has it, else ``source``."""
    return next((c for c in ("dataset", "source") if c in df), None)


class Judge:
    """Metrics of one level (rows with ``video``, ``y``, ``prob``) at a val-chosen threshold, with
    bootstrap intervals over videos; None when the rows hold one class only."""

    def __init__(self, ep: EvaluateParams, seed: int):
        self.ep, self.seed = ep, seed

    def __call__(self, rows: pd.DataFrame, threshold: float, where: str) -> BinaryMetrics | None:
        y = rows["y"].to_numpy()
        return None if len(np.unique(y)) < 2 else self.required(rows, threshold, where)

    def required(self, rows: pd.DataFrame, threshold: float, where: str) -> BinaryMetrics:
        """The same, :class:`metrics.MetricsError` (naming ``where``) when the rows hold one class."""
        y, p = rows["y"].to_numpy(), rows["prob"].to_numpy()
        m = binary_metrics(y, p, threshold, self.ep.clip, where)
        return bootstrap_intervals(
            m, y, p, rows["video"].to_numpy(), self.ep.clip, self.ep.bootstrap_resamples, self.seed
        )


def source_metrics(test: pd.DataFrame, judge: Judge, thr: float) -> dict[str, BinaryMetrics]:
    """Frame metrics of the old test split (rows not from the feedback source) and of the feedback
    test split, each at the val-chosen threshold and only when it holds both classes (the release
    rule, :func:`gate.old_split_regression`, weighs the old one)."""
    feedback = (test["source"] == FEEDBACK_SOURCE).to_numpy() if "source" in test else np.zeros(len(test), bool)
    out = {}
    for name, rows in (("old", ~feedback), ("feedback", feedback)):
        m = judge(test[rows], thr, f"test split ({name} rows)")
        if m is not None:
            out[name] = m
    return out


def dataset_metrics(test: pd.DataFrame, levels: Levels, judge: Judge, video_cut: float) -> dict[str, DatasetMetrics]:
    """Each dataset's test rows judged per face, person and video at the overall val-chosen thresholds,
    and the share of its REAL and FAKE clips at or above ``video_cut`` (the video operating point)."""
    column = dataset_column(test)
    if column is None:
        return {}
    video_dataset = test.groupby("video")[column].first()
    out = {}
    for name in sorted(test[column].astype(str).unique()):
        mine = set(video_dataset.index[video_dataset.astype(str) == name])
        rows_of = {level: rows[rows["video"].isin(mine)] for level, (_, rows, _) in levels.items()}
        blocks = {
            level: judge(rows_of[level], cut, f"test split ({name}, {level} level)")
            for level, (_, _, cut) in levels.items()
        }
        videos = rows_of["video"]
        called = videos["prob"].to_numpy() >= video_cut
        real = (videos["y"] == 0).to_numpy()
        out[name] = DatasetMetrics(
            n_videos=len(mine),
            **blocks,
            real_videos=int(real.sum()),
            real_videos_flagged=float(called[real].mean()) if real.any() else None,
            fake_videos_caught=float(called[~real].mean()) if (~real).any() else None,
        )
    return out
