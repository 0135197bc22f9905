"""Per-person verdicts: a clip with two people, one of them swapped, scores each person on their own."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepfake_detect.config import load_params
from deepfake_detect.media.codec import write_clip
from deepfake_detect.media.video import decode_all_frames
from deepfake_detect.models.aggregate import aggregate_video
from deepfake_detect.scoring.scorer import local_scorer


@pytest.fixture(scope="module")
def two_person_clip(tiny_sample, tmp_path_factory):
    """A REAL clip of one actor beside a FAKE clip of another (the embedded sample's self-blended
    swap): the DFDC case where one of two people is fake."""
    meta = json.loads((tiny_sample / "metadata.json").read_text())
    fake = next(name for name, m in meta.items() if m["label"] == "FAKE")
    real = next(name for name, m in meta.items() if m["label"] == "REAL" and name != meta[fake]["original"])
    left, right = (
        decode_all_frames(tiny_sample / real),
        decode_all_frames(tiny_sample / fake),
    )
    frames = [np.hstack([a, b]) for (_, a), (_, b) in zip(left, right, strict=True)]
    return write_clip(tmp_path_factory.mktemp("two") / "two_people.mp4", frames, fps=10), left[0][1].shape[1]


def test_two_people_are_scored_apart_and_the_clip_is_its_fakest_person(two_person_clip, face_model, repo_root):
    clip, half = two_person_clip
    params = load_params(repo_root / "params.yaml")
    r = local_scorer(params, face_model).score_video(clip).model_dump()
    assert r["faces_found"] >= 2 * r["frames_sampled"] - 2
    assert len(r["people"]) == 2 and all(p["deciding"] for p in r["people"])
    left, right = sorted(r["people"], key=lambda p: p["box"][0])
    assert left["box"][0] + left["box"][2] <= half <= right["box"][0]  # each person on their own side
    assert min(left["frames"], right["frames"]) >= r["frames_sampled"] - 1
    ev = params.evaluate
    for person in r["people"]:
        probs = [f["probability"] for fr in r["frames"] for f in fr["faces"] if f["person"] == person["person"]]
        expected = aggregate_video(np.array(probs), ev.clip, ev.video_aggregation)
        assert person["probability"] == pytest.approx(expected, abs=1e-5)
    assert r["probability"] == max(left["probability"], right["probability"])
    assert r["label"] == ("FAKE" if r["probability"] >= r["threshold"] else "REAL")
