"""Stage ``evaluate``: every trained model on the test split, frame level and video level.

The decision threshold is chosen on the validation split (never on test). Writes
``metrics/<model>.json`` (top-level frame metrics, ``video`` block for the configured
aggregation, ``video_mean`` / ``video_confident`` for both rules), the comparison table
(``evaluate.comparison``, .md and .csv) and the ROC / PR / calibration / confusion plot data
under ``evaluate.plots_dir``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from tqdm import tqdm

from deepfake_detect.config import EvaluateParams, Params
from deepfake_detect.contracts import Calibration
from deepfake_detect.data.manifest import FEEDBACK_SOURCE
from deepfake_detect.media.images import read_rgb
from deepfake_detect.models.aggregate import clip_probs
from deepfake_detect.models.calibration import expected_calibration_error, fit_calibration, reliability_table
from deepfake_detect.models.dataset import load_split
from deepfake_detect.models.predictor import Predictor, load_predictor
from deepfake_detect.release.metrics import METRIC_KEYS, binary_metrics, choose_threshold, video_scores

log = logging.getLogger(__name__)
PLOT_KINDS = ("roc", "pr", "calibration", "confusion")


def score_split(
    predictors: dict[str, Predictor], df: pd.DataFrame, batch_size: int, desc: str
) -> dict[str, np.ndarray]:
    """P(FAKE) of every row for every model; each image is read once and only a batch is in memory."""
    out: dict[str, list[np.ndarray]] = {name: [] for name in predictors}
    paths = df["path"].tolist()
    for start in tqdm(range(0, len(paths), batch_size), desc=desc, unit="batch", leave=False):
        crops = [read_rgb(p) for p in paths[start : start + batch_size]]
        for name, pred in predictors.items():
            out[name].append(pred.predict(crops))
    return {name: np.concatenate(v) if v else np.zeros(0, np.float32) for name, v in out.items()}


def operating_point(
    val_y: np.ndarray, val_p: np.ndarray, test_y: np.ndarray, test_p: np.ndarray, target_fpr: float
) -> dict[str, float]:
    """The threshold that flags at most ``target_fpr`` of the REAL validation faces as FAKE, and the
    false-positive rate and recall it gives on test (what a moderator who must rarely accuse a real
    person gets)."""
    real = np.sort(val_p[val_y == 0])
    allowed = int(np.floor(target_fpr * len(real)))  # REAL faces that may score at or above the cut
    cut = float(np.nextafter(real[-1], np.inf)) if allowed == 0 else float(real[len(real) - allowed])
    flagged = test_p >= cut
    return {
        "target_fpr": target_fpr,
        "threshold": min(cut, 1.0),
        "val_fpr": float((val_p[val_y == 0] >= cut).mean()),
        "test_fpr": float(flagged[test_y == 0].mean()),
        "test_recall": float(flagged[test_y == 1].mean()),
    }


def source_metrics(test: pd.DataFrame, test_p: np.ndarray, thr: float, ep: EvaluateParams) -> dict[str, Any]:
    """Frame metrics of the old test split (rows not from the feedback source) and of the feedback
    test split, each at the val-chosen threshold and only when it holds both classes (the release
    rule, :func:`gate.old_split_regression`, weighs the old one)."""
    y = test["y"].to_numpy()
    feedback = (test["source"] == FEEDBACK_SOURCE).to_numpy() if "source" in test else np.zeros(len(y), bool)
    out = {}
    for name, rows in (("old", ~feedback), ("feedback", feedback)):
        if len(np.unique(y[rows])) == 2:
            out[name] = binary_metrics(y[rows], test_p[rows], thr, ep.clip, f"test split ({name} rows)")
    return out


def evaluate_probs(
    val: pd.DataFrame, val_raw: np.ndarray, test: pd.DataFrame, test_raw: np.ndarray, ep: EvaluateParams
) -> dict[str, Any]:
    """Calibration fitted on val, then frame-level metrics of the calibrated test probabilities at
    the val-chosen threshold, the target-FPR operating point, and the same per video for both rules."""
    val_y, test_y = val["y"].to_numpy(), test["y"].to_numpy()
    calibration = fit_calibration(val_y, val_raw, ep.calibration)
    val_p, test_p = calibration.apply(val_raw), calibration.apply(test_raw)
    thr = choose_threshold(val_y, val_p, ep.threshold_rule)
    result: dict[str, Any] = binary_metrics(test_y, test_p, thr, ep.clip, "test split (frames)")
    result["ece"] = expected_calibration_error(test_y, test_p, ep.calibration_bins)
    result["ece_uncalibrated"] = expected_calibration_error(test_y, test_raw, ep.calibration_bins)
    result["log_loss_uncalibrated"] = float(skm.log_loss(test_y, clip_probs(test_raw, ep.clip), labels=[0, 1]))
    result["calibration"] = calibration.model_dump()
    result["operating_point"] = operating_point(val_y, val_p, test_y, test_p, ep.target_fpr)
    result["by_source"] = source_metrics(test, test_p, thr, ep)
    for method in ("mean", "confident"):
        v_val = video_scores(val.assign(prob=val_p), ep.clip, method, ep.person_min_share)
        v_test = video_scores(test.assign(prob=test_p), ep.clip, method, ep.person_min_share)
        v_thr = choose_threshold(v_val["y"].to_numpy(), v_val["prob"].to_numpy(), ep.threshold_rule)
        result[f"video_{method}"] = binary_metrics(
            v_test["y"].to_numpy(), v_test["prob"].to_numpy(), v_thr, ep.clip, f"test split (videos, {method})"
        )
    result["video"] = dict(result[f"video_{ep.video_aggregation}"], aggregation=ep.video_aggregation)
    return result


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


def comparison_table(results: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for name, m in results.items():
        row = {"model": name, **{k: m[k] for k in METRIC_KEYS}}
        row.update({f"video_{k}": m["video"][k] for k in METRIC_KEYS})
        row["threshold"] = m["threshold"]
        row["train_seconds"] = m.get("train_seconds")
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-markdown table, floats to 3 decimals."""

    def cell(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def run_evaluate(p: Params) -> dict[str, dict[str, Any]]:
    ep = p.evaluate
    val = load_split(p.balance.manifest, "val")
    test = load_split(p.balance.manifest, "test")
    predictors = {name: load_predictor(p.train.models_dir / name) for name in p.train.models}
    log.info(
        "evaluating %s on %d val / %d test crops (%d / %d videos)",
        ", ".join(predictors),
        len(val),
        len(test),
        val["video"].nunique(),
        test["video"].nunique(),
    )
    val_probs = score_split(predictors, val, ep.batch_size, "val")
    test_probs = score_split(predictors, test, ep.batch_size, "test")
    ep.metrics_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, pred in predictors.items():
        m = evaluate_probs(val, val_probs[name], test, test_probs[name], ep)
        m.update(model=name, family=pred.family, train_seconds=pred.record.train_seconds)
        (ep.metrics_dir / f"{name}.json").write_text(json.dumps(m, indent=2))
        calibrated = Calibration.model_validate(m["calibration"]).apply(test_probs[name])
        write_plots(name, test["y"].to_numpy(), calibrated, m["threshold"], ep.plots_dir, ep.calibration_bins)
        results[name] = m
        log.info(
            "%s: test AUC %.3f, log loss %.3f (%.3f uncalibrated), ECE %.3f, balanced acc %.3f | recall %.3f at "
            "FPR %.3f | video AUC %.3f (threshold %.3f from val)",
            name,
            m["auc"],
            m["log_loss"],
            m["log_loss_uncalibrated"],
            m["ece"],
            m["balanced_accuracy"],
            m["operating_point"]["test_recall"],
            m["operating_point"]["test_fpr"],
            m["video"]["auc"],
            m["threshold"],
        )
    table = comparison_table(results)
    ep.comparison.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(ep.comparison.with_suffix(".csv"), index=False)
    ep.comparison.write_text(markdown_table(table))
    return results
