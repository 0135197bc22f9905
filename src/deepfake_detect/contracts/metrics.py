"""``metrics/<model>.json`` (:class:`ModelMetrics`): what evaluate found on the test split, at frame,
person and video level and per dataset (gate, promote, report and the record read it)."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from pydantic import Field

from deepfake_detect.contracts.base import Contract, ContractError, ModelFamily
from deepfake_detect.contracts.calibration import Calibration

MetricName = Literal["auc", "log_loss", "balanced_accuracy", "accuracy", "precision", "recall", "f1"]
FRAME_METRICS: tuple[MetricName, ...] = get_args(MetricName)  # the metric names, written once
LOWER_IS_BETTER: frozenset[MetricName] = frozenset({"log_loss"})


class Confusion(Contract):
    tn: int
    fp: int
    fn: int
    tp: int


class Interval(Contract):
    """A bootstrap 95% interval (2.5th and 97.5th percentile of the resampled metric)."""

    low: float
    high: float


class BinaryMetrics(Contract):
    """Every metric of :data:`FRAME_METRICS` at one threshold, with the counts behind them."""

    auc: float
    log_loss: float  # on probabilities clipped to evaluate.clip
    balanced_accuracy: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    threshold: float
    n: int
    n_fake: int
    n_real: int
    confusion: Confusion
    # bootstrap intervals, resampling whole videos (evaluate.bootstrap_resamples); empty when not computed
    intervals: dict[MetricName, Interval] = Field(default_factory=dict)

    def value(self, metric: MetricName) -> float:
        return float(getattr(self, metric))


class VideoMetrics(BinaryMetrics):
    aggregation: Literal["mean", "confident"]  # evaluate.video_aggregation, applied to each person


class OperatingPoint(Contract):
    """A threshold chosen on val so at most ``target_fpr`` of the REAL val units (faces or videos) are
    called FAKE, and what it gives on test."""

    level: Literal["frame", "video"] = "frame"
    target_fpr: float
    threshold: float
    val_fpr: float
    test_fpr: float
    test_recall: float


class CalibrationQuality(Contract):
    """How well calibrated P(FAKE) states frequencies on test: at the data's own FAKE share and on a
    class-balanced view (the prior shifted to 0.5 by :meth:`Calibration.at_prior`, each class weighted
    to half the total), so a model is not judged calibrated only at its training prior."""

    base_rate: float  # share of FAKE among the test crops
    ece: float
    log_loss: float
    ece_balanced: float
    log_loss_balanced: float
    ece_uncalibrated: float
    log_loss_uncalibrated: float


class DatasetMetrics(Contract):
    """One dataset of the test split (the manifest's ``dataset`` column, else ``source``): each level
    holding both classes, at the val-chosen thresholds, with bootstrap intervals."""

    n_videos: int
    frame: BinaryMetrics | None  # None: this dataset's test rows hold one class only
    person: BinaryMetrics | None
    video: BinaryMetrics | None
    # at the video operating point's threshold (what promote.serve_threshold: video_fpr serves), per dataset:
    # the pooled rate can meet its target while a small dataset's real people are all called FAKE
    real_videos: int = 0
    real_videos_flagged: float | None = None  # share of its REAL test clips called FAKE (None: no REAL clip)
    fake_videos_caught: float | None = None  # share of its FAKE test clips called FAKE (None: no FAKE clip)


class ModelMetrics(Contract):
    """``metrics/<model>.json``: one model on the test split (evaluate writes it; gate, promote and
    report read it; promote copies it into the release's ``record.json``).

    Frame = one face crop; person = one face track of a video aggregated with evaluate's clip rule;
    video = the clip scored as its fakest deciding person (what serving answers). Thresholds,
    calibration and operating points are chosen on val, never on test."""

    model: str
    family: ModelFamily
    train_seconds: float
    threshold: float  # the served cut on calibrated P(FAKE) (evaluate.threshold_rule on val faces)
    calibration: Calibration
    calibration_quality: CalibrationQuality
    frame: BinaryMetrics
    person: BinaryMetrics
    video: VideoMetrics  # at evaluate.video_aggregation
    video_by_rule: dict[Literal["mean", "confident"], BinaryMetrics]
    operating_point: OperatingPoint  # faces: at most evaluate.target_fpr of REAL val faces flagged
    video_operating_point: OperatingPoint  # videos: at most evaluate.target_video_fpr of REAL val clips
    by_source: dict[Literal["old", "feedback"], BinaryMetrics]  # frame level; the release rule weighs "old"
    by_dataset: dict[str, DatasetMetrics]
    input_size: int | None = None  # the crop side the model reads (None: metrics written before it was kept)
    infer_img_s: float | None = None  # test crops per second through the model's predict call (images read
    # beforehand; an ensemble pays every member), on the machine evaluate ran on

    def level(self, level: Literal["frame", "person", "video"]) -> BinaryMetrics:
        return {"frame": self.frame, "person": self.person, "video": self.video}[level]

    def value(self, metric: MetricName, level: Literal["frame", "person", "video"]) -> float:
        """``metric`` at ``level``; :class:`ContractError` when it is not finite."""
        v = self.level(level).value(metric)
        if not np.isfinite(v):
            raise ContractError(f"model {self.model}: {level} {metric} is not finite ({v})")
        return v
