"""Metrics agree with scikit-learn on known inputs; thresholds, clipping and video aggregation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from deepfake_detect.models.aggregate import aggregate_video
from deepfake_detect.release.metrics import (
    MetricsError,
    binary_metrics,
    bootstrap_intervals,
    choose_threshold,
    is_better,
    video_scores,
)

Y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
P = np.array([0.1, 0.4, 0.6, 0.35, 0.8, 0.9, 1.0, 0.7])


def test_binary_metrics_match_sklearn_and_hand_counts():
    m = binary_metrics(Y, P, threshold=0.5, clip=(0.05, 0.95))
    pred = (P >= 0.5).astype(int)
    assert m.auc == pytest.approx(skm.roc_auc_score(Y, P))
    assert m.log_loss == pytest.approx(skm.log_loss(Y, np.clip(P, 0.05, 0.95)))
    assert m.balanced_accuracy == pytest.approx(skm.balanced_accuracy_score(Y, pred))
    # by hand: tp=4 (0.8, 0.9, 1.0, 0.7), fn=1 (0.35), fp=1 (0.6), tn=2
    assert m.confusion.model_dump() == {"tn": 2, "fp": 1, "fn": 1, "tp": 4}
    assert m.accuracy == pytest.approx(6 / 8)
    assert m.precision == pytest.approx(4 / 5)
    assert m.recall == pytest.approx(4 / 5)
    assert m.f1 == pytest.approx(0.8)
    assert m.balanced_accuracy == pytest.approx((4 / 5 + 2 / 3) / 2)


def test_clipping_bounds_the_cost_of_one_confident_mistake():
    y, p = np.array([0, 1]), np.array([1.0, 1.0])  # a REAL scored 1.0: unbounded loss without clipping
    m = binary_metrics(y, p, 0.5, clip=(0.01, 0.99))
    assert m.log_loss == pytest.approx(-(math.log(0.01) + math.log(0.99)) / 2)


def test_single_class_split_is_a_clear_error_not_nan():
    with pytest.raises(MetricsError, match="only FAKE"):
        binary_metrics(np.ones(5, int), np.full(5, 0.7), 0.5, (0.01, 0.99), "test split (frames)")
    with pytest.raises(MetricsError, match="NaN"):
        binary_metrics(Y, np.where(P > 0.9, np.nan, P), 0.5, (0.01, 0.99))


def test_threshold_maximises_balanced_accuracy_on_the_given_labels():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.2, 0.3, 0.5, 0.55, 0.7, 0.9])
    t = choose_threshold(y, p)
    assert 0.5 < t <= 0.55
    assert skm.balanced_accuracy_score(y, p >= t) == 1.0
    assert choose_threshold(y, p, "f1") == pytest.approx(0.55)


def test_the_served_clip_rule_does_not_turn_a_real_clips_noisy_frames_into_a_fake_verdict(repo_root):
    """A REAL clip of unfamiliar footage: most frames unsure (~0.5), a third past 0.8. The served rule
    (params.yaml evaluate.video_aggregation) must score it near its frames' mean, not as its fakest
    third: averaging only the confident-fake frames called every REAL FF++ test clip FAKE
    (bench/aggregation.py, docs/models.md "Which clip rule")."""
    from deepfake_detect.config import load_params

    ev = load_params(repo_root / "params.yaml").evaluate
    frames = np.array([0.85, 0.9, 0.82, 0.88, 0.4, 0.45, 0.5, 0.35, 0.55, 0.3, 0.42, 0.38])
    served = aggregate_video(frames, ev.clip, ev.video_aggregation)
    assert served == pytest.approx(frames.mean(), abs=0.01)
    assert aggregate_video(frames, ev.clip, "confident") > 0.85  # the rule it replaced: its fakest third


def test_video_scores_aggregate_each_videos_crops():
    frames = pd.DataFrame(
        {
            "video": ["a"] * 4 + ["b"] * 3,
            "person": [0] * 7,
            "frame": [0, 1, 2, 3, 0, 1, 2],
            "y": [1] * 4 + [0] * 3,
            "prob": [0.95, 0.9, 0.2, 0.3, 0.05, 0.1, 0.02],
        }
    )
    v = video_scores(frames, (0.01, 0.99), "confident", 0.25).set_index("video")
    # a: half the faces are confidently fake → mean of those; b: all confidently real → their mean
    assert v.loc["a", "prob"] == pytest.approx((0.95 + 0.9) / 2)
    assert v.loc["b", "prob"] == pytest.approx((0.05 + 0.1 + 0.02) / 3)
    mean = video_scores(frames, (0.01, 0.99), "mean", 0.25).set_index("video")
    assert mean.loc["a", "prob"] == pytest.approx(np.mean([0.95, 0.9, 0.2, 0.3]))
    assert aggregate_video(np.array([1.0, 1.0]), (0.01, 0.99), "mean") == pytest.approx(0.99)
    with pytest.raises(MetricsError, match="video c"):
        one = {"video": ["c", "c"], "person": [0, 0], "frame": [0, 1], "y": [0, 1], "prob": [0.1, 0.9]}
        video_scores(pd.DataFrame(one), (0.01, 0.99), "mean", 0.25)


def test_a_clip_is_as_fake_as_its_fakest_person_not_the_pooled_faces():
    """Two people over 4 frames, one swapped: pooled, the real one dilutes the fake (mean 0.5);
    per person the clip scores as the fake person. A one-frame stray detection does not decide."""
    frames = pd.DataFrame(
        {
            "video": ["two"] * 9,
            "person": [0, 1, 0, 1, 0, 1, 0, 1, 2],
            "frame": [0, 0, 1, 1, 2, 2, 3, 3, 3],
            "y": [1] * 9,
            "prob": [0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.99],
        }
    )
    v = video_scores(frames, (0.01, 0.99), "mean", 0.5).set_index("video")
    assert v.loc["two", "prob"] == pytest.approx(0.9)
    assert v.loc["two", "n_people"] == 3
    pooled = video_scores(frames.assign(person=0), (0.01, 0.99), "mean", 0.5).set_index("video")
    assert pooled.loc["two", "prob"] < 0.6


def test_is_better_knows_log_loss_is_lower_better():
    assert is_better(0.9, 0.8, "auc") and not is_better(0.8, 0.8, "auc")
    assert is_better(0.3, 0.5, "log_loss") and not is_better(0.5, 0.3, "log_loss")
    assert not is_better(0.81, 0.8, "auc", margin=0.02)


def test_bootstrap_intervals_resample_whole_videos_and_hold_the_point_estimate():
    rng = np.random.default_rng(1)
    videos = np.repeat(np.arange(40), 5)  # 40 videos of 5 crops, one label each
    y = (videos % 2).astype(int)
    clip_look = rng.normal(0, 1.0, 40)[videos]  # crops of one clip look alike: they are not independent
    p = 1 / (1 + np.exp(-(np.where(y == 1, 0.8, -0.8) + clip_look + rng.normal(0, 0.3, len(y)))))
    m = binary_metrics(y, p, 0.5, (0.01, 0.99))
    wide = bootstrap_intervals(m, y, p, videos, (0.01, 0.99), resamples=300, seed=0)
    for k in ("auc", "log_loss", "balanced_accuracy", "f1"):
        ci = wide.intervals[k]
        assert ci.low < getattr(m, k) < ci.high, k
    assert bootstrap_intervals(m, y, p, videos, (0.01, 0.99), 300, seed=0) == wide  # seeded
    # the same crops counted as 200 independent videos: a narrower, over-confident interval
    naive = bootstrap_intervals(m, y, p, np.arange(len(y)), (0.01, 0.99), 300, seed=0).intervals["auc"]
    assert naive.high - naive.low < wide.intervals["auc"].high - wide.intervals["auc"].low
    assert bootstrap_intervals(m, y, p, videos, (0.01, 0.99), 0, 0).intervals == {}
