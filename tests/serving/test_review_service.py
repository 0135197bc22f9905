"""The BentoML service (its classes called in-process: real model store, real detector) keeps the face
crops of a request that needs a person when serve.review.keep_crops is on, named by its request-log id."""

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
