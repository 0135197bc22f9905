"""Calibration fitted on validation makes scores frequencies; the target-FPR operating point holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from deepfake_detect.config import load_params
from deepfake_detect.contracts.base import ContractError
from deepfake_detect.contracts.calibration import Calibration, logit
from deepfake_detect.contracts.metrics import ModelMetrics
from deepfake_detect.contracts.model import ModelRecord
from deepfake_detect.models.calibration import balanced_weights, expected_calibration_error, fit_calibration
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
    assert point.val_fpr <= 0.05 and point.test_fpr == point.val_fpr
    assert 0 < point.test_recall < 1


def _frames(y: np.ndarray, prefix: str, datasets: tuple[str, ...] = ("dfdc",)) -> pd.DataFrame:
    """Rows of three frames of one person per video, one label per video, videos spread over ``datasets``."""
    df = pd.DataFrame({"y": y, "video": [f"{prefix}{i // 3}" for i in range(len(y))]})
    df["y"] = df.groupby("video")["y"].transform("first")
    df["person"], df["frame"] = 0, [i % 3 for i in range(len(df))]
    df["dataset"] = [datasets[(i // 3) % len(datasets)] for i in range(len(df))]
    return df


def _record() -> ModelRecord:
    return ModelRecord(
        name="m", family="sklearn", artifact="model.joblib", input_size=48, params={}, created="",
        git_rev="", data_version="", train_seconds=1.0, n_train=0, n_val=0, threshold=0.5,
    )  # fmt: skip


def _evaluate(val: pd.DataFrame, p_val, test: pd.DataFrame, p_test, **changes):
    ep = load_params(REPO_PARAMS, {"evaluate": {"bootstrap_resamples": 50, **changes}}).evaluate
    return evaluate_probs(_record(), val, p_val, test, p_test, ep, seed=0)


def test_evaluate_reports_calibrated_metrics():
    y_val, p_val = _overconfident(1500, 5)
    y_test, p_test = _overconfident(1500, 6)
    val, test = _frames(y_val, "v"), _frames(y_test, "t")
    m = _evaluate(val, p_val, test, p_test)
    q = m.calibration_quality
    assert m.calibration.method == "platt" and q.ece < q.ece_uncalibrated
    assert q.log_loss < q.log_loss_uncalibrated
    assert m.operating_point.target_fpr == load_params(REPO_PARAMS).evaluate.target_fpr
    assert m.calibration.base_rate == pytest.approx(val["y"].mean())  # the prior it was fitted at
    assert ModelMetrics.model_validate_json(m.model_dump_json()) == m  # the metrics file round-trips


def test_calibration_shifted_to_a_balanced_prior_is_calibrated_on_a_balanced_view():
    """Fitted at 80% FAKE: shifted to 0.5 (prior-shift correction) it is calibrated on the class-balanced
    view, while the unshifted map on that view inflates P(FAKE)."""
    y_val, p_val = _overconfident(4000, 7)
    y_test, p_test = _overconfident(4000, 8)
    m = _evaluate(_frames(y_val, "v"), p_val, _frames(y_test, "t"), p_test)
    q = m.calibration_quality
    w = balanced_weights(y_test)
    unshifted = expected_calibration_error(y_test, m.calibration.apply(p_test), weights=w)
    assert q.ece_balanced < 0.05 < unshifted
    # on data that really is 50/50, the shifted map is calibrated
    y_even, p_even = _overconfident(4000, 9, fake_share=0.5, bias=-1.0 + 3 * np.log(4))  # same model, even prior
    cal = fit_calibration(y_val, p_val, "platt")  # on the crops' own labels (_frames gives each video one)
    shifted = cal.at_prior(0.5).apply(p_even)
    assert expected_calibration_error(y_even, shifted) < 0.05 < expected_calibration_error(y_even, cal.apply(p_even))


def test_prior_shift_moves_the_threshold_so_decisions_stay_the_same():
    y, p = _overconfident(2000, 10)
    cal = fit_calibration(y, p, "platt")
    low = cal.at_prior(0.1)
    assert low.shift < 0 and (low.apply(p) < cal.apply(p)).all()  # rarer fakes: lower P(FAKE)
    threshold = 0.8
    assert ((low.apply(p) >= low.shift_threshold(threshold)) == (cal.apply(p) >= threshold)).all()
    assert cal.at_prior(None).apply(p) == pytest.approx(cal.apply(p))
    with pytest.raises(ContractError, match="base rate"):
        Calibration(method="platt").at_prior(0.1)


def test_video_operating_point_flags_at_most_the_target_share_of_real_val_videos():
    y_val, p_val = _overconfident(3000, 11)
    y_test, p_test = _overconfident(3000, 12)
    m = _evaluate(_frames(y_val, "v"), p_val, _frames(y_test, "t"), p_test, target_video_fpr=0.1)
    vop = m.video_operating_point
    assert vop.level == "video" and vop.target_fpr == 0.1 and vop.val_fpr <= 0.1
    # saturated scores tie at the top: the cut goes above the tie rather than past the target
    assert m.operating_point.val_fpr <= m.operating_point.target_fpr


def test_evaluate_judges_each_dataset_per_face_person_and_video_with_intervals():
    y_val, p_val = _overconfident(1200, 13)
    y_test, p_test = _overconfident(1200, 14)
    test = _frames(y_test, "t", datasets=("dfdc", "ffpp"))
    test.loc[test["dataset"] == "ffpp", "y"] = 1  # FF++ rows here hold FAKE videos only
    m = _evaluate(_frames(y_val, "v"), p_val, test, p_test)
    assert set(m.by_dataset) == {"dfdc", "ffpp"}
    dfdc = m.by_dataset["dfdc"]
    assert dfdc.n_videos == test.loc[test["dataset"] == "dfdc", "video"].nunique()
    assert dfdc.frame.n == (test["dataset"] == "dfdc").sum() and dfdc.video.n == dfdc.n_videos
    for block in (dfdc.frame, dfdc.person, dfdc.video):
        ci = block.intervals["auc"]
        assert ci.low <= block.auc <= ci.high
    assert m.by_dataset["ffpp"].frame is None  # one class: no AUC, said so instead of a made-up figure
    assert m.by_source["old"].n == len(test)  # no feedback rows: the whole split is the old one


def test_each_dataset_says_how_many_of_its_real_clips_the_served_video_cut_calls_fake():
    """The bar is per dataset: a small dataset whose REAL clips all score high (FF++ people on a model
    taught mostly by DFDC) must show it, while the pooled rate stays near the target."""
    rng = np.random.default_rng(15)
    y_val, y_test = (rng.random(3000) < 0.8).astype(int), (rng.random(3000) < 0.8).astype(int)
    p_val, p_test = (1 / (1 + np.exp(-rng.normal(np.where(y == 1, 1.0, -1.0), 1.0))) for y in (y_val, y_test))
    test = _frames(y_test, "t", datasets=("dfdc",) * 9 + ("ffpp",))
    ffpp = (test["dataset"] == "ffpp").to_numpy()
    p_test = np.where(ffpp, np.quantile(p_test, 0.95), p_test)  # every FF++ face scores like a clear DFDC fake
    m = _evaluate(_frames(y_val, "v"), p_val, test, p_test, target_video_fpr=0.1)
    vop, by = m.video_operating_point, m.by_dataset
    assert vop.test_fpr < 0.25  # pooled: the FF++ share of REAL clips is small
    assert by["ffpp"].real_videos_flagged == 1.0 and by["ffpp"].fake_videos_caught == 1.0
    dfdc_real = test[~ffpp & (test["y"] == 0)]["video"].nunique()
    assert by["dfdc"].real_videos == dfdc_real and by["dfdc"].real_videos_flagged < vop.test_fpr
    assert ModelMetrics.model_validate_json(m.model_dump_json()) == m
