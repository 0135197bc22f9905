"""Crop framing: serving cuts faces with the margin the model's training crops had."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from deepfake_detect.config import load_params
from deepfake_detect.data.sources import ReadyCrop, list_ready_crops
from deepfake_detect.faces.box import crop_face
from deepfake_detect.faces.detect import face_settings, find_faces_batch, make_detector
from deepfake_detect.faces.framing import crop_margin, framed_as_trained
from deepfake_detect.pipeline.extract import verify_ready_crops
from deepfake_detect.scoring.result import ModelInfo
from deepfake_detect.scoring.scorer import Scorer


@pytest.fixture(scope="module")
def params(repo_root):
    return load_params(repo_root / "params.yaml")


def _ready_crops(folder, params, margins):
    """The astronaut's face cut at known margins, as a ready face-crop dataset would hold it."""
    from skimage import data

    rgb = data.astronaut()
    detector = make_detector(params.extract.detector)
    (faces,) = find_faces_batch(detector, [rgb], **face_settings(params.extract))
    crops = []
    for m in margins:
        path = folder / f"m{m}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(crop_face(rgb, faces[0], m, 224), cv2.COLOR_RGB2BGR))
        crops.append(ReadyCrop(path, f"m{m}.mp4", "REAL", f"m{m}.mp4", "sample"))
    return crops, detector


@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_the_framing_of_ready_crops_is_measured_from_the_face_the_detector_finds(tmp_path, params, margin):
    crops, detector = _ready_crops(tmp_path, params, [margin] * 3)
    rows = pd.DataFrame([row for row, _ in verify_ready_crops(crops, params.extract, detector)])
    assert (rows["confidence"] >= params.extract.face_threshold).all()
    assert (rows["w"] < 224).all() if margin else True  # the face box, not the whole crop
    assert crop_margin(rows, extract_margin=0.3) == pytest.approx(margin, abs=0.08)


def test_unverified_ready_crops_get_the_whole_crop_as_box_and_no_confidence(tmp_path, params):
    """extract.verify_ready_crops: false (no detector): every readable crop is a row, its box the whole crop."""
    crops, _ = _ready_crops(tmp_path, params, [0.3, 0.3])
    rows = pd.DataFrame([row for row, _ in verify_ready_crops(crops, params.extract, None)])
    assert len(rows) == 2 and rows["confidence"].isna().all()
    assert (rows[["x", "y"]] == 0).all().all() and (rows["w"] == 224).all() and (rows["h"] == 224).all()


def test_clip_crops_carry_the_extract_margin_and_unverified_crops_no_framing(params):
    rows = pd.DataFrame(
        {"frame": [0, 1, -1], "confidence": [0.9, 0.9, np.nan], "w": [50, 50, 224], "h": [50, 50, 224], "path": "x"}
    )
    assert crop_margin(rows, extract_margin=0.3) == pytest.approx(0.3)
    assert crop_margin(rows.iloc[2:], extract_margin=0.3) == pytest.approx(0.3)  # nothing measured: the param


def test_serving_crops_faces_with_the_models_training_framing(params):
    tight = ModelInfo(tag="m", threshold=0.5, input_size=160, family="keras", crop_margin=0.0)
    assert framed_as_trained(params.extract, tight.crop_margin).margin == 0.0
    untold = ModelInfo(tag="m", threshold=0.5, input_size=160, family="keras")  # a record without the framing
    assert framed_as_trained(params.extract, untold.crop_margin).margin == params.extract.margin
    scorer = Scorer(params, tight, lambda crops: (np.zeros(len(crops)), np.zeros((len(crops), 0))))
    assert scorer.finder.params.extract.margin == 0.0


def test_clips_are_cut_with_the_framing_of_the_shared_ready_crops(params, shared_faces):
    """One framing for every training crop: a run mixing Kaggle's ready crops with clips must cut the
    clips as Kaggle cut its faces, or the model learns framing as a source (and a label) cue, and the
    clip crops it is evaluated on are not the crops serving cuts (serving uses the training median)."""
    crops, _ = list_ready_crops(shared_faces)
    sample = [crops[i] for i in np.random.default_rng(0).choice(len(crops), 48, replace=False)]
    rows = pd.DataFrame([row for row, _ in verify_ready_crops(sample, params.extract, make_detector("blazeface"))])
    measured = crop_margin(rows, extract_margin=float("nan"))  # nothing measured: NaN, a failure
    assert measured == pytest.approx(params.extract.margin, abs=0.05), (
        f"extract.margin {params.extract.margin} cuts clips unlike the ready crops (measured framing {measured:.3f})"
    )
