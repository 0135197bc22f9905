"""Detection metrics, all from scikit-learn: ROC AUC, log loss on clipped probabilities (as DFDC
was scored), balanced accuracy (robust to the ~83% FAKE skew), accuracy, precision, recall, F1 and
the confusion matrix; threshold selection on the validation split; per-video scores."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from deepfake_detect.errors import DeepfakeError
from deepfake_detect.models.aggregate import clip_probability, clip_probs, people_scores

METRIC_KEYS = ("auc", "log_loss", "balanced_accuracy", "accuracy", "precision", "recall", "f1")
LOWER_IS_BETTER = {"log_loss"}
ThresholdRule = Literal["balanced_accuracy", "f1"]


class MetricsError(DeepfakeError, ValueError):
    """Labels or probabilities that cannot be scored (e.g. a split with a single class)."""


def check_inputs(y: np.ndarray, p: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise MetricsError(f"{where}: {y.shape[0] if y.ndim else 0} labels vs {p.shape} probabilities")
    if not np.isfinite(p).all():
        raise MetricsError(f"{where}: {int((~np.isfinite(p)).sum())} probabilities are NaN or infinite")
    classes = set(np.unique(y).tolist())
    if classes != {0, 1}:
        have = ", ".join("FAKE" if c else "REAL" for c in sorted(classes)) or "no rows"
        raise MetricsError(
            f"{where}: needs both REAL and FAKE examples to score, has only {have} "
            f"({len(y)} rows); AUC and balanced accuracy are undefined on one class"
        )
    return y, p


def choose_threshold(y: np.ndarray, p: np.ndarray, rule: ThresholdRule = "balanced_accuracy") -> float:
    """The cut on P(FAKE) (predict FAKE when p >= cut) that maximises ``rule`` on these (validation)
    labels. Balanced accuracy = (1 + TPR - FPR) / 2, so it is the ROC point furthest from chance."""
    y, p = check_inputs(y, p, "threshold selection")
    if rule == "f1":
        prec, rec, thr = skm.precision_recall_curve(y, p)
        f1 = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
        return float(thr[int(np.argmax(f1))])
    fpr, tpr, thr = skm.roc_curve(y, p)
    return float(min(thr[int(np.argmax(tpr - fpr))], 1.0))


def binary_metrics(
    y: np.ndarray, p: np.ndarray, threshold: float, clip: tuple[float, float], where: str = "test"
) -> dict:
    """Every metric of :data:`METRIC_KEYS` plus the confusion matrix and counts."""
    y, p = check_inputs(y, p, where)
    pred = (p >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {
        "auc": float(skm.roc_auc_score(y, p)),
        "log_loss": float(skm.log_loss(y, clip_probs(p, clip), labels=[0, 1])),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred)),
        "accuracy": float(skm.accuracy_score(y, pred)),
        "precision": float(skm.precision_score(y, pred, zero_division=0)),
        "recall": float(skm.recall_score(y, pred, zero_division=0)),
        "f1": float(skm.f1_score(y, pred, zero_division=0)),
        "threshold": float(threshold),
        "n": len(y),
        "n_fake": int(y.sum()),
        "n_real": int(len(y) - y.sum()),
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
    }


def video_scores(frames: pd.DataFrame, clip: tuple[float, float], method: str, min_share: float) -> pd.DataFrame:
    """One row per video: its label and its fakest deciding person's :func:`aggregate_video` of
    that person's crops (:func:`aggregate.people_scores`, the rule serving uses).

    ``frames`` needs columns ``video``, ``person``, ``frame``, ``y`` and ``prob``; a video with
    mixed labels is an error."""
    rows = []
    for video, g in frames.groupby("video", sort=True):
        if g["y"].nunique() != 1:
            raise MetricsError(f"video {video}: its crops carry both labels")
        people = people_scores(
            g["prob"].to_numpy(), g["person"].to_numpy(), g["frame"].to_numpy(), clip, method, min_share
        )
        rows.append(
            {
                "video": video,
                "y": int(g["y"].iloc[0]),
                "n_faces": len(g),
                "n_people": len(people),
                "prob": clip_probability(people),
            }
        )
    return pd.DataFrame(rows)


def is_better(candidate: float, current: float, metric: str, margin: float = 0.0) -> bool:
    """Whether ``candidate`` beats ``current`` by more than ``margin`` on ``metric``."""
    if metric in LOWER_IS_BETTER:
        return candidate < current - margin
    return candidate > current + margin
