"""Calibration fitted on validation makes scores frequencies; the target-FPR operating point holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from deepfake_detect.config import load_params
from deepfake_detect.contracts import Calibration, logit
from deepfake_detect.models.calibration import expected_calibration_error, fit_calibration
from deepfake_detect.pipeline.evaluate import evaluate_probs, operating_point

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"  # the one place defaults are written


def _overconfident(n: int, seed: int, bias: float = -1.0, fake_share: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Labels and raw scores of a model too sure of itself whose 0.5 ignores the 80% FAKE prior: the true
    posterior logit t of a score z ~ N(±1, 1) is 2z + log(0.8/0.2); the model says σ(3t + bias)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < fake_share).astype(int)
    z = rng.normal(np.where(y == 1, 1.0, -1.0), 1.0)
    t = 2 * z + np.log(fake_share / (1 - fake_share))
    return y, 1 / (1 + np.exp(-(3 * t + bias)))


@pytest.mark.parametrize("method", ["temperature", "platt", "isotonic"])
def test_calibration_lowers_log_loss_and_ece_and_keeps_the_ranking(method: str):
    bias = 0.0 if method == "temperature" else -1.0  # one parameter fixes overconfidence, not a shifted prior
    y_val, p_val = _overconfident(3000, 0, bias)
    y_test, p_test = _overconfident(3000, 1, bias)
    cal = fit_calibration(y_val, p_val, method)
    q = cal.apply(p_test)
    assert skm.log_loss(y_test, q) < skm.log_loss(y_test, p_test)
    assert expected_calibration_error(y_test, q) < 0.5 * expected_calibration_error(y_test, p_test)
    assert expected_calibration_error(y_test, q) < 0.05
    if method != "isotonic":  # monotone maps keep the ranking (up to ties where float32 saturates at 0 or 1)
        assert skm.roc_auc_score(y_test, q) == pytest.approx(skm.roc_auc_score(y_test, p_test), abs=2e-3)
    assert Calibration.model_validate(cal.model_dump()) == cal  # the stored form round-trips


def test_platt_recovers_a_known_map():
    rng = np.random.default_rng(3)
    z = rng.normal(0, 2, 20000)
    y = (rng.random(z.size) < 1 / (1 + np.exp(-z))).astype(int)
    raw = 1 / (1 + np.exp(-(z - 0.5) / 0.5))  # logit(raw) = 2z - 1, so the truth is z = 0.5 logit(raw) + 0.5
    cal = fit_calibration(y, raw, "platt")
    assert cal.slope == pytest.approx(0.5, abs=0.05) and cal.bias == pytest.approx(0.5, abs=0.08)
    assert np.abs(cal.slope * logit(raw) + cal.bias - z).mean() < 0.1


def test_one_class_validation_is_a_clear_error():
    with pytest.raises(ValueError, match="needs REAL and FAKE"):
        fit_calibration(np.ones(10), np.full(10, 0.7), "platt")


def test_target_fpr_threshold_flags_at_most_that_share_of_real_val_faces():
    y, p = _overconfident(2000, 4)
    point = operating_point(y, p, y, p, target_fpr=0.05)
    assert point["val_fpr"] <= 0.05 and point["test_fpr"] == point["val_fpr"]
    assert 0 < point["test_recall"] < 1


def test_evaluate_reports_calibrated_metrics():
    y_val, p_val = _overconfident(1500, 5)
    y_test, p_test = _overconfident(1500, 6)
    val = pd.DataFrame({"y": y_val, "video": [f"v{i // 3}" for i in range(len(y_val))]})
    test = pd.DataFrame({"y": y_test, "video": [f"t{i // 3}" for i in range(len(y_test))]})
    val["y"] = val.groupby("video")["y"].transform("first")  # one label per video
    test["y"] = test.groupby("video")["y"].transform("first")
    for frame in (val, test):  # three frames of one person per video
        frame["person"], frame["frame"] = 0, [i % 3 for i in range(len(frame))]
    m = evaluate_probs(val, p_val, test, p_test, load_params(REPO_PARAMS).evaluate)
    assert m["calibration"]["method"] == "platt" and m["ece"] < m["ece_uncalibrated"]
    assert m["log_loss"] < m["log_loss_uncalibrated"]
    assert m["operating_point"]["target_fpr"] == load_params(REPO_PARAMS).evaluate.target_fpr
