"""Detection metrics, all from scikit-learn: ROC AUC, log loss on clipped probabilities (as DFDC
was scored), balanced accuracy (robust to the ~83% FAKE skew), accuracy, precision, recall, F1 and
the confusion matrix; threshold selection on the validation split; per-person and per-video scores;
bootstrap intervals that resample whole videos (:func:`bootstrap_intervals`)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from deepfake_detect.contracts.metrics import FRAME_METRICS, LOWER_IS_BETTER, BinaryMetrics, Confusion, Interval
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.models.aggregate import clip_probability, clip_probs, people_scores

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
) -> BinaryMetrics:
    """Every metric of :data:`FRAME_METRICS` plus the confusion matrix and counts."""
    y, p = check_inputs(y, p, where)
    pred = (p >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return BinaryMetrics(
        auc=float(skm.roc_auc_score(y, p)),
        log_loss=float(skm.log_loss(y, clip_probs(p, clip), labels=[0, 1])),
        balanced_accuracy=float(skm.balanced_accuracy_score(y, pred)),
        accuracy=float(skm.accuracy_score(y, pred)),
        precision=float(skm.precision_score(y, pred, zero_division=0)),
        recall=float(skm.recall_score(y, pred, zero_division=0)),
        f1=float(skm.f1_score(y, pred, zero_division=0)),
        threshold=float(threshold),
        n=len(y),
        n_fake=int(y.sum()),
        n_real=int(len(y) - y.sum()),
        confusion=Confusion(tn=int(tn), fp=int(fp), fn=int(fn), tp=int(tp)),
    )


def _weighted(y: np.ndarray, p: np.ndarray, ties: np.ndarray, pred: np.ndarray, ll: np.ndarray, w: np.ndarray):
    """Every metric of :data:`FRAME_METRICS` with row weights ``w`` (a bootstrap resample's draw counts)."""
    pos, neg = w * y, w * (1 - y)
    wp, wn = pos.sum(), neg.sum()
    pos_at, neg_at = np.bincount(ties, pos), np.bincount(ties, neg)  # weight per distinct score, ascending
    below = np.cumsum(neg_at) - neg_at
    tp, fp = (pos * pred).sum(), (neg * pred).sum()
    tpr, tnr = tp / wp, (wn - fp) / wn
    precision = tp / (tp + fp) if tp + fp else 0.0
    return {
        "auc": float((pos_at * (below + 0.5 * neg_at)).sum() / (wp * wn)),
        "log_loss": float((w * ll).sum() / w.sum()),
        "balanced_accuracy": float((tpr + tnr) / 2),
        "accuracy": float((tp + wn - fp) / (wp + wn)),
        "precision": float(precision),
        "recall": float(tpr),
        "f1": float(2 * precision * tpr / (precision + tpr)) if precision + tpr else 0.0,
    }


def bootstrap_intervals(
    m: BinaryMetrics,
    y: np.ndarray,
    p: np.ndarray,
    units: np.ndarray,
    clip: tuple[float, float],
    resamples: int,
    seed: int,
) -> BinaryMetrics:
    """``m`` with 95% intervals of every metric: ``resamples`` resamples of whole ``units`` (videos:
    the crops of one clip are not independent), drawn with replacement within each class so every
    resample holds both; at ``m.threshold``. Zero resamples return ``m`` unchanged."""
    if resamples <= 0:
        return m
    y, p = np.asarray(y).astype(int), np.asarray(p, np.float64)
    codes, unit_of_row = np.unique(np.asarray(units).astype(str), return_inverse=True)
    unit_label = np.zeros(len(codes), int)
    unit_label[unit_of_row] = y
    ties = np.unique(p, return_inverse=True)[1]
    pred = (p >= m.threshold).astype(float)
    q = clip_probs(p, clip)
    ll = -(y * np.log(q) + (1 - y) * np.log1p(-q))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        counts = np.zeros(len(codes))
        for label in (0, 1):
            members = np.flatnonzero(unit_label == label)
            counts[members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)))
        draws.append(_weighted(y, p, ties, pred, ll, counts[unit_of_row]))
    intervals = {
        k: Interval(low=float(np.percentile(v, 2.5)), high=float(np.percentile(v, 97.5)))
        for k in FRAME_METRICS
        if np.isfinite(v := np.array([d[k] for d in draws])).all()
    }
    return m.model_copy(update={"intervals": intervals})


def _videos(frames: pd.DataFrame, clip: tuple[float, float], method: str, min_share: float):
    """(video, its label, its crop count, its people's :class:`aggregate.PersonScore`) per video;
    ``frames`` needs columns ``video``, ``person``, ``frame``, ``y`` and ``prob``; a video with
    mixed labels is an error."""
    for video, g in frames.groupby("video", sort=True):
        if g["y"].nunique() != 1:
            raise MetricsError(f"video {video}: its crops carry both labels")
        people = people_scores(
            g["prob"].to_numpy(), g["person"].to_numpy(), g["frame"].to_numpy(), clip, method, min_share
        )
        yield video, int(g["y"].iloc[0]), len(g), people


def people_rows(frames: pd.DataFrame, clip: tuple[float, float], method: str, min_share: float) -> pd.DataFrame:
    """One row per deciding person (face track) of each video: ``video``, ``person``, the video's label
    ``y`` and the person's :func:`aggregate.aggregate_video` score ``prob`` (the rule serving uses)."""
    rows = [
        {"video": video, "person": s.person, "y": y, "prob": s.probability}
        for video, y, _, people in _videos(frames, clip, method, min_share)
        for s in people
        if s.deciding
    ]
    return pd.DataFrame(rows, columns=["video", "person", "y", "prob"])


def video_scores(frames: pd.DataFrame, clip: tuple[float, float], method: str, min_share: float) -> pd.DataFrame:
    """One row per video: its label and its fakest deciding person's :func:`aggregate_video` of
    that person's crops (:func:`aggregate.people_scores`, the rule serving uses)."""
    rows = [
        {"video": video, "y": y, "n_faces": n, "n_people": len(people), "prob": clip_probability(people)}
        for video, y, n, people in _videos(frames, clip, method, min_share)
    ]
    return pd.DataFrame(rows, columns=["video", "y", "n_faces", "n_people", "prob"])


def is_better(candidate: float, current: float, metric: str, margin: float = 0.0) -> bool:
    """Whether ``candidate`` beats ``current`` by more than ``margin`` on ``metric``."""
    if metric in LOWER_IS_BETTER:
        return candidate < current - margin
    return candidate > current + margin
