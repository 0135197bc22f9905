"""The BentoML service (its classes called in-process: real model store, real detector) keeps the face
crops of a request that needs a person when serve.review.keep_crops is on, named by its request-log id,
lists them for the reviewer page and takes their labels into the feedback dataset."""

from __future__ import annotations

import importlib
import os
import sys

import pytest
import yaml
from serving_kit import write_test_params

from deepfake_detect.config import load_params
from deepfake_detect.scoring.result import ScoreResult
from deepfake_detect.scoring.review import ReviewQueue


@pytest.fixture(scope="module")
def svc(tmp_path_factory, bentoml_home):
    tmp = tmp_path_factory.mktemp("review-svc")
    path = write_test_params(tmp)
    raw = yaml.safe_load(path.read_text())
    raw["serve"]["review"].update(keep_crops=True, dir=str(tmp / "review"), margin=0.5, on_drift=False)
    raw["data"]["feedback_dir"] = str(tmp / "feedback")
    path.write_text(yaml.safe_dump(raw))
    os.environ["DEEPFAKE_PARAMS"] = str(path)
    sys.modules.pop("serving.service", None)
    module = importlib.import_module("serving.service")
    yield module.DeepfakeDetector(), load_params(path)
    os.environ.pop("DEEPFAKE_PARAMS", None)
    sys.modules.pop("serving.service", None)


def test_the_service_keeps_a_request_near_the_threshold_for_review(svc, tiny_sample):
    detector, params = svc
    clip = sorted(tiny_sample.glob("*.mp4"))[0]
    result = detector.score_video(clip)
    assert isinstance(result, ScoreResult) and result.faces_found > 0, result
    detector.request_log.flush()
    (item,) = ReviewQueue(params).items()
    assert item.request_id == result.request_id and item.model_tag == "tiny-xception-test"
    assert item.score == result.probability and item.endpoint == "score_video"
    assert len(item.crops) == result.faces_found
    assert all(ReviewQueue(params).crop_path(item, c).is_file() for c in item.crops)


def test_the_queue_is_listed_newest_first_and_labelled_through_the_api(svc, tiny_sample):
    """/review_items and /review_label: the page's API, the code path of `deepfake review label`."""
    import base64

    import pandas as pd
    from starlette.responses import JSONResponse

    from deepfake_detect.scoring.review import ReviewListing

    detector, params = svc
    clips = sorted(tiny_sample.glob("*.mp4"))[1:3]
    for clip in clips:
        detector.score_video(clip)
    listing = detector.review_items()
    assert isinstance(listing, ReviewListing) and listing.enabled and listing.labelled == 0
    times = [e.item.time for e in listing.items]
    assert times == sorted(times, reverse=True) and listing.waiting == len(listing.items) >= 3  # newest first
    newest = listing.items[0]
    assert newest.item.file == clips[-1].name and newest.item.reason == "margin"
    assert base64.b64decode(newest.thumbnail)[:2] == b"\xff\xd8"  # a JPEG of its first crop

    labelled = detector.review_label(newest.item.id, "fake", "blending seam at the jaw")
    assert labelled.label == "FAKE" and labelled.note == "blending seam at the jaw"
    meta = pd.read_csv(params.data.feedback_dir / "metadata.csv")
    rows = meta[meta["original"] == newest.item.id]
    assert len(rows) == len(newest.item.crops) and set(rows["label"]) == {"FAKE"}
    assert set(rows["request_id"]) == {newest.item.request_id}
    after = detector.review_items()
    assert after.waiting == listing.waiting - 1 and newest.item.id not in {e.item.id for e in after.items}
    assert newest.item.id in {e.item.id for e in detector.review_items(labelled=True).items}

    bad = detector.review_label(newest.item.id, "MAYBE")
    assert isinstance(bad, JSONResponse) and bad.status_code == 400 and b"not REAL or FAKE" in bad.body
    gone = detector.review_label("no-such-item", "REAL")
    assert isinstance(gone, JSONResponse) and gone.status_code == 404 and b"not in the review queue" in gone.body
