"""The temporal head over people (models/temporal.py): tracks are built in frame order, padded and
masked; and the head learns what happens between frames, which frame aggregation cannot see."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepfake_detect.config import load_params
from deepfake_detect.models.temporal import Standardiser, fit_head, frame_features, person_tracks


def _rows(videos: dict[str, tuple[str, int]]) -> pd.DataFrame:
    rows = []
    for video, (label, n) in videos.items():
        for frame in reversed(range(n)):  # out of order on purpose
            rows.append({"video": video, "person": 0, "frame": frame * 10, "label": label, "group": video})
    return pd.DataFrame(rows)


def test_tracks_are_in_frame_order_padded_and_subsampled():
    rows = _rows({"a.mp4": ("FAKE", 3), "b.mp4": ("REAL", 6)})
    features = rows[["frame"]].to_numpy(np.float32)  # the feature is the frame number
    tracks = person_tracks(rows, features, max_frames=4)
    assert tracks.videos.tolist() == ["a.mp4", "b.mp4"] and tracks.labels.tolist() == [1, 0]
    assert tracks.lengths.tolist() == [3, 4]
    assert tracks.features[0, :, 0].tolist() == [0, 10, 20, 0]  # ordered, then zero padding
    assert tracks.features[1, :, 0].tolist() == [0, 20, 30, 50]  # 6 frames → 4 evenly spaced
    x = Standardiser.fit(tracks).apply(tracks)
    assert x[0, 3].tolist() == [0.0] and x[0, 0, 0] != 0.0  # padding stays masked after scaling


def test_ready_crops_have_no_track():
    rows = _rows({"a.mp4": ("FAKE", 2)})
    rows.loc[0, "frame"] = -1
    with pytest.raises(ValueError, match="ready crops"):
        person_tracks(rows, np.zeros((len(rows), 2), np.float32), 4)


def test_frame_features_are_the_clipped_logit_and_the_embedding():
    f = frame_features(np.array([0.5, 1.0]), np.array([[1.0, 2.0], [3.0, 4.0]]), (0.01, 0.99))
    assert f.shape == (2, 3) and f[0, 0] == 0.0 and np.isclose(f[1, 0], np.log(99)) and f[1, 2] == 4.0


def test_the_head_sees_flicker_that_frame_aggregation_cannot():
    """FAKE tracks flicker (logits alternate ±1), REAL ones hold still; both average 0 per frame, so
    the mean of the frames cannot tell them apart, and the GRU must."""
    rng = np.random.default_rng(0)
    n, frames = 48, 8
    labels = np.arange(n) % 2
    logits = np.where(labels[:, None] == 1, np.tile([1.0, -1.0], frames // 2), 0.0)
    logits = logits + rng.normal(0, 0.2, (n, frames))
    rows = pd.DataFrame(
        [
            {"video": f"v{i:02d}.mp4", "person": 0, "frame": t, "label": "FAKE" if labels[i] else "REAL", "group": i}
            for i in range(n)
            for t in range(frames)
        ]
    )
    features = logits.reshape(-1, 1).astype(np.float32)
    tracks = person_tracks(rows, features, frames)
    train, test = tracks.take(np.arange(0, 32)), tracks.take(np.arange(32, n))
    params = load_params().temporal.model_copy(update={"epochs": 40})
    head = fit_head(train, params, seed=0)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(test.labels, head.predict(test)) > 0.9
    mean_auc = roc_auc_score(test.labels, test.features[:, :, 0].mean(axis=1))
    assert mean_auc < 0.8, mean_auc  # frame aggregation has (almost) nothing to go on
