"""Stage ``evaluate``: every trained model on the test split, per face, per person, per video and
per dataset.

The calibration, the decision thresholds and the operating points are chosen on the validation
split (never on test). Writes ``metrics/<model>.json`` (a :class:`contracts.metrics.ModelMetrics`), the
comparison table (``evaluate.comparison``, .md and .csv) and the ROC / PR / calibration / confusion
plot data under ``evaluate.plots_dir``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from tqdm import tqdm

from deepfake_detect.config import EvaluateParams, Params
from deepfake_detect.contracts.calibration import Calibration
from deepfake_detect.contracts.metrics import CalibrationQuality, ModelMetrics, OperatingPoint, VideoMetrics
from deepfake_detect.contracts.model import ModelRecord
from deepfake_detect.media.images import read_rgb
from deepfake_detect.models.aggregate import clip_probs
from deepfake_detect.models.calibration import (
    balanced_weights,
    expected_calibration_error,
    fit_calibration,
    reliability_table,
)
from deepfake_detect.models.combine import ensemble_record, mean_logit
from deepfake_detect.models.dataset import load_split
from deepfake_detect.models.predictor import Predictor, load_predictor, read_record
from deepfake_detect.release.breakdown import Judge, dataset_metrics, source_metrics
from deepfake_detect.release.comparison import comparison_table, markdown_table
from deepfake_detect.release.metrics import choose_threshold, people_rows, video_scores

log = logging.getLogger(__name__)


@dataclass
class SplitScores:
    """Every model's P(FAKE) of every row of a split, and the seconds each model's predict calls took."""

    probs: dict[str, np.ndarray]
    seconds: dict[str, float]

    def img_s(self, name: str, members: list[str] | None = None) -> float:
        """Rows per second through the model (an ensemble: through all its members)."""
        seconds = sum(self.seconds[m] for m in (members or [name]))
        n = len(next(iter(self.probs.values()))) if self.probs else 0
        return round(n / seconds, 1) if seconds > 0 else float("nan")


def score_split(predictors: dict[str, Predictor], df: pd.DataFrame, batch_size: int, desc: str) -> SplitScores:
    """P(FAKE) of every row for every model; each image is read once and only a batch is in memory."""
    out: dict[str, list[np.ndarray]] = {name: [] for name in predictors}
    seconds = dict.fromkeys(predictors, 0.0)
    paths = df["path"].tolist()
    for start in tqdm(range(0, len(paths), batch_size), desc=desc, unit="batch", leave=False):
        crops = [read_rgb(p) for p in paths[start : start + batch_size]]
        for name, pred in predictors.items():
            t = time.perf_counter()
            out[name].append(pred.predict(crops))
            seconds[name] += time.perf_counter() - t
    probs = {name: np.concatenate(v) if v else np.zeros(0, np.float32) for name, v in out.items()}
    return SplitScores(probs, seconds)


def operating_point(
    val_y: np.ndarray,
    val_p: np.ndarray,
    test_y: np.ndarray,
    test_p: np.ndarray,
    target_fpr: float,
    level: str = "frame",
) -> OperatingPoint:
    """The threshold that flags at most ``target_fpr`` of the REAL validation units (faces, or videos
    scored by the clip rule) as FAKE, and the false-positive rate and recall it gives on test (what a
    moderator who must rarely accuse a real person gets)."""
    # float32 throughout (what the model gives): a cut just above a score is above it in any precision
    val_p, test_p = np.asarray(val_p, np.float32), np.asarray(test_p, np.float32)
    real = np.sort(val_p[val_y == 0])
    allowed = int(np.floor(target_fpr * len(real)))  # REAL units that may score at or above the cut
    cut = real[-1] if allowed == 0 else real[len(real) - allowed]
    if allowed == 0 or (real >= cut).sum() > allowed:  # ties at the cut (saturated scores): only those above it
        cut = np.nextafter(cut, np.float32(np.inf))
    cut = float(cut)
    flagged = test_p >= cut
    return OperatingPoint(
        level=level,
        target_fpr=target_fpr,
        threshold=min(cut, 1.0),
        val_fpr=float((val_p[val_y == 0] >= cut).mean()),
        test_fpr=float(flagged[test_y == 0].mean()),
        test_recall=float(flagged[test_y == 1].mean()),
    )


def calibration_quality(
    test_y: np.ndarray, test_raw: np.ndarray, calibration: Calibration, ep: EvaluateParams
) -> CalibrationQuality:
    """ECE and log loss of the calibrated test probabilities at the data's FAKE share, and on a
    class-balanced view: the prior shifted to 0.5 (:meth:`Calibration.at_prior`) and each class
    weighted to half the total; the raw output's figures beside them."""
    p = calibration.apply(test_raw)
    weights = balanced_weights(test_y)
    balanced = calibration.at_prior(0.5).apply(test_raw) if calibration.base_rate is not None else p
    return CalibrationQuality(
        base_rate=float(test_y.mean()),
        ece=expected_calibration_error(test_y, p, ep.calibration_bins),
        log_loss=float(skm.log_loss(test_y, clip_probs(p, ep.clip), labels=[0, 1])),
        ece_balanced=expected_calibration_error(test_y, balanced, ep.calibration_bins, weights),
        log_loss_balanced=float(
            skm.log_loss(test_y, clip_probs(balanced, ep.clip), labels=[0, 1], sample_weight=weights)
        ),
        ece_uncalibrated=expected_calibration_error(test_y, test_raw, ep.calibration_bins),
        log_loss_uncalibrated=float(skm.log_loss(test_y, clip_probs(test_raw, ep.clip), labels=[0, 1])),
    )


def evaluate_probs(
    record: ModelRecord,
    val: pd.DataFrame,
    val_raw: np.ndarray,
    test: pd.DataFrame,
    test_raw: np.ndarray,
    ep: EvaluateParams,
    seed: int,
) -> ModelMetrics:
    """Calibration fitted on val, then the calibrated test probabilities judged per face, per person
    and per video (each at its own val-chosen threshold), per dataset, with both operating points."""
    val_y, test_y = val["y"].to_numpy(), test["y"].to_numpy()
    calibration = fit_calibration(val_y, val_raw, ep.calibration)
    val, test = val.assign(prob=calibration.apply(val_raw)), test.assign(prob=calibration.apply(test_raw))
    judge = Judge(ep, seed)
    thr = choose_threshold(val_y, val["prob"].to_numpy(), ep.threshold_rule)
    levels = {"frame": (val, test, thr)}  # level -> (val rows, test rows, val-chosen threshold)
    judged = {"frame": judge.required(test, thr, "test split (frames)")}
    people = [people_rows(df, ep.clip, ep.video_aggregation, ep.person_min_share) for df in (val, test)]
    levels["person"] = (*people, choose_threshold(people[0]["y"], people[0]["prob"], ep.threshold_rule))
    judged["person"] = judge.required(people[1], levels["person"][2], "test split (people)")
    by_rule = {}
    for method in ("mean", "confident"):
        v_val, v_test = (video_scores(df, ep.clip, method, ep.person_min_share) for df in (val, test))
        v_thr = choose_threshold(v_val["y"].to_numpy(), v_val["prob"].to_numpy(), ep.threshold_rule)
        by_rule[method] = judge.required(v_test, v_thr, f"test split (videos, {method})")
        if method == ep.video_aggregation:
            levels["video"] = (v_val, v_test, v_thr)
    judged["video"] = by_rule[ep.video_aggregation]
    v_val, v_test, _ = levels["video"]
    video_op = operating_point(
        v_val["y"].to_numpy(), v_val["prob"].to_numpy(), v_test["y"].to_numpy(), v_test["prob"].to_numpy(),
        ep.target_video_fpr, "video",
    )  # fmt: skip
    return ModelMetrics(
        model=record.name,
        family=record.family,
        train_seconds=record.train_seconds,
        threshold=thr,
        calibration=calibration,
        calibration_quality=calibration_quality(test_y, test_raw, calibration, ep),
        frame=judged["frame"],
        person=judged["person"],
        video=VideoMetrics(**judged["video"].model_dump(), aggregation=ep.video_aggregation),
        video_by_rule=by_rule,
        operating_point=operating_point(val_y, val["prob"].to_numpy(), test_y, test["prob"].to_numpy(), ep.target_fpr),
        video_operating_point=video_op,
        by_source=source_metrics(test, judge, thr),
        by_dataset=dataset_metrics(test, levels, judge, video_op.threshold),
    )


def write_plots(name: str, y: np.ndarray, p: np.ndarray, threshold: float, plots_dir: Path, bins: int) -> None:
    """ROC, PR, reliability diagram (calibrated P(FAKE) per bin vs the FAKE share) and confusion data."""
    fpr, tpr, _ = skm.roc_curve(y, p)
    prec, rec, _ = skm.precision_recall_curve(y, p)
    frames = {
        "roc": pd.DataFrame({"fpr": fpr, "tpr": tpr}),
        "pr": pd.DataFrame({"recall": rec, "precision": prec}),
        "calibration": pd.DataFrame(reliability_table(y, p, bins)),
        "confusion": pd.DataFrame(
            {"actual": np.where(y == 1, "FAKE", "REAL"), "predicted": np.where(p >= threshold, "FAKE", "REAL")}
        ),
    }
    for kind, df in frames.items():
        (plots_dir / kind).mkdir(parents=True, exist_ok=True)
        df.to_csv(plots_dir / kind / f"{name}.csv", index=False)


def run_evaluate(p: Params) -> dict[str, ModelMetrics]:
    """Every model of ``train.models``; an ensemble is judged on its members' scores combined as it
    serves them (:func:`models.combine.mean_logit` of their calibrated P(FAKE)), beside them."""
    ep = p.evaluate
    val = load_split(p.balance.manifest, "val")
    test = load_split(p.balance.manifest, "test")
    records = {name: read_record(p.train.models_dir / name) for name in p.train.models}
    ensembles = {name: r for name, r in records.items() if r.family == "ensemble"}
    predictors = {name: load_predictor(p.train.models_dir / name) for name in records if name not in ensembles}
    log.info(
        "evaluating %s on %d val / %d test crops (%d / %d videos)",
        ", ".join(records),
        len(val),
        len(test),
        val["video"].nunique(),
        test["video"].nunique(),
    )
    val_raw = score_split(predictors, val, ep.batch_size, "val").probs  # trained models carry no calibration yet
    test_scores = score_split(predictors, test, ep.batch_size, "test")
    test_raw = test_scores.probs
    ep.metrics_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, pred in predictors.items():
        results[name] = evaluate_model(
            pred.record, val, val_raw[name], test, test_raw[name], p, test_scores.img_s(name)
        )
    for name, record in ensembles.items():
        members = record.members or []
        unknown = [m for m in members if m not in predictors]
        if unknown:
            raise ValueError(f"{p.train.models_dir / name}: ensemble members {unknown} are not in train.models")
        record = ensemble_record(record, [predictors[m].record for m in members])
        val_raw[name], test_raw[name] = (
            mean_logit([results[m].calibration.apply(raw[m]) for m in members]) for raw in (val_raw, test_raw)
        )
        results[name] = evaluate_model(
            record, val, val_raw[name], test, test_raw[name], p, test_scores.img_s(name, members)
        )
    table = comparison_table(results)
    ep.comparison.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(ep.comparison.with_suffix(".csv"), index=False)
    ep.comparison.write_text(markdown_table(table))
    return results


def evaluate_model(
    record: ModelRecord,
    val: pd.DataFrame,
    val_raw: np.ndarray,
    test: pd.DataFrame,
    test_raw: np.ndarray,
    p: Params,
    infer_img_s: float | None = None,
) -> ModelMetrics:
    """One model's metrics (written to ``metrics/<model>.json``), plots and log line."""
    ep, name = p.evaluate, record.name
    m = evaluate_probs(record, val, val_raw, test, test_raw, ep, p.seed)
    m = m.model_copy(update={"input_size": record.input_size, "infer_img_s": infer_img_s})
    m.write(ep.metrics_dir / f"{name}.json")
    calibrated = m.calibration.apply(test_raw)
    write_plots(name, test["y"].to_numpy(), calibrated, m.threshold, ep.plots_dir, ep.calibration_bins)
    q = m.calibration_quality
    log.info(
        "%s: test AUC %.3f, log loss %.3f (%.3f uncalibrated, %.3f balanced), ECE %.3f (%.3f balanced), "
        "balanced acc %.3f | recall %.3f at FPR %.3f | video AUC %.3f (threshold %.3f from val), "
        "%.0f%% of REAL test clips flagged at the %.3f video operating point",
        name,
        m.frame.auc,
        q.log_loss,
        q.log_loss_uncalibrated,
        q.log_loss_balanced,
        q.ece,
        q.ece_balanced,
        m.frame.balanced_accuracy,
        m.operating_point.test_recall,
        m.operating_point.test_fpr,
        m.video.auc,
        m.threshold,
        100 * m.video_operating_point.test_fpr,
        m.video_operating_point.threshold,
    )
    return m
