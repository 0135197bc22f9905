"""The service classes called in-process (no HTTP): real model store, real detector, real clips."""

from __future__ import annotations

import importlib
import io
import json
import os
import sys

import numpy as np
import pytest
from serving_kit import (
    FACES,
    VIDEOS,
    make_bad_inputs,
    make_face_variants,
    needs_shared,
    some_faces,
    write_test_params,
)
from starlette.responses import Response

from deepfake_detect.scoring.result import BatchScoreResult, ScoreResult


@pytest.fixture(scope="module")
def svc(tmp_path_factory, bentoml_home):
    tmp = tmp_path_factory.mktemp("inproc")
    os.environ["DEEPFAKE_PARAMS"] = str(write_test_params(tmp))
    sys.modules.pop("serving.service", None)
    module = importlib.import_module("serving.service")
    detector = module.DeepfakeDetector()
    yield detector, tmp
    os.environ.pop("DEEPFAKE_PARAMS", None)
    sys.modules.pop("serving.service", None)


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return make_bad_inputs(tmp_path_factory.mktemp("bad"))


def _status(result) -> tuple[int, dict]:
    """An API's answer as (HTTP status, JSON body): an error response, or a declared result model."""
    if isinstance(result, Response):
        return result.status_code, json.loads(result.body)
    assert isinstance(result, ScoreResult | BatchScoreResult), type(result)
    return 200, result.model_dump()


@needs_shared(VIDEOS)
def test_score_video_inprocess(svc):
    detector, tmp = svc
    code, r = _status(detector.score_video(VIDEOS / "ffpp_004.mp4"))
    assert code == 200
    assert r["label"] in ("FAKE", "REAL") and 0 <= r["probability"] <= 1
    params = sys.modules["serving.service"].PARAMS
    n = params.serve.frames_per_video
    assert r["frames_sampled"] == n and r["faces_found"] >= n
    assert r["model_tag"] == "tiny-xception-test" and r["bento_tag"].startswith("deepfake-detector:")
    face = r["frames"][0]["faces"][0]
    assert len(face["box"]) == 4 and 0 <= face["probability"] <= 1
    assert face["confidence"] >= params.extract.face_threshold and face["person"] == 0
    # one person seen in every frame decides the clip; its score is the clip's
    main = r["people"][0]
    assert main["person"] == 0 and main["frames"] == n and main["deciding"] and len(main["box"]) == 4
    assert r["probability"] == max(p["probability"] for p in r["people"] if p["deciding"])
    assert {"decode_s", "detect_s", "model_s", "total_s"} <= set(r["timings"])
    # the request log got one record per face, with the schema monitoring reads
    from deepfake_detect.scoring.requestlog import FIELDS, read_request_log

    detector.request_log.flush()
    df = read_request_log(tmp / "requests")
    assert len(df) == r["faces_found"] and list(df.columns) == FIELDS
    assert (df["model_tag"] == "tiny-xception-test").all() and df["embedding"].map(len).eq(8).all()
    assert df["probability"].between(0, 1).all() and (df["file"] == "ffpp_004.mp4").all()


@pytest.mark.parametrize(
    "case",
    [
        "non_media",
        "empty",
        "truncated",
        "corrupt",
        "unsupported_codec",
        "too_large",
        "too_long",
        "too_small",
        "too_wide",
        "video_as_image",
        "image_as_video",
        "truncated_image",
    ],
)
def test_bad_input_inprocess(svc, bad, case):
    detector, _ = svc
    path, endpoint, status, error = bad[case]
    code, body = _status(getattr(detector, endpoint)(path))
    assert (code, body.get("error")) == (status, error), body
    assert path.name in body["detail"]


@pytest.mark.parametrize("case", ["no_face_video", "no_face_image"])
def test_no_face_is_explicit(svc, bad, case):
    detector, _ = svc
    path, endpoint, _, _ = bad[case]
    code, r = _status(getattr(detector, endpoint)(path))
    assert code == 200 and r["label"] == "NO_FACE" and r["probability"] is None and r["faces_found"] == 0


@needs_shared(FACES)
def test_images_any_format_and_batch(svc, tmp_path):
    detector, _ = svc
    face = some_faces(2)[0]
    variants = make_face_variants(face, tmp_path)
    for kind, path in variants.items():
        code, r = _status(detector.score_image(path))
        assert code == 200, (kind, r)
        assert r["faces_found"] >= 1, kind
    assert _status(detector.score_image(variants["grey"]))[1]["media"]["channels"] == 1
    assert _status(detector.score_image(variants["rgba"]))[1]["media"]["channels"] == 4
    code, r = _status(detector.score_image(face, crop=True, explain=True))
    assert code == 200 and r["faces_found"] == 1 and r["frames"][0]["faces"][0]["confidence"] is None
    assert r["frames"][0]["faces"][0]["heatmap_png"]
    _, batch = _status(detector.score_images([*some_faces(4), tmp_path / "missing.jpg"]))
    assert [x.get("label") for x in batch["results"][:4]] != [None] * 4
    assert batch["results"][4]["error"] == "not_found"
    png = detector.explain(face)
    assert isinstance(png, Response) and png.media_type == "image/png" and png.body[:4] == b"\x89PNG"


def test_model_scores_match_predictor(face_model):
    """One forward pass gives the same P(FAKE) as Predictor.predict and the same embedding as .embed."""
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (5, 71, 71, 3), dtype=np.uint8)
    probs, emb = face_model.score(crops)
    np.testing.assert_allclose(probs, face_model.predict(crops), atol=1e-5)
    np.testing.assert_allclose(emb, face_model.embed(crops), atol=1e-3)


def test_gradcam_highlights_the_evidence(face_model):
    from deepfake_detect.models.gradcam import GradCam

    cam = GradCam(face_model.model, 71)
    crops = np.random.default_rng(1).integers(0, 255, (2, 71, 71, 3), dtype=np.uint8)
    maps, probs = cam.heatmaps(crops)
    assert maps.shape[0] == 2 and maps.ndim == 3 and maps.min() >= 0 and maps.max() <= 1
    np.testing.assert_allclose(probs, face_model.predict(crops), atol=1e-5)
    assert all(p[:4] == b"\x89PNG" for p in cam.overlays(crops))


def test_long_upload_names_are_truncated_not_a_500(svc, tmp_path, monkeypatch):
    """BentoML stores an upload as tmpXXXXXXXX<name>: a 250-byte name would not fit in 255 bytes."""
    import bentoml._internal.context as bentoml_context
    from starlette.datastructures import UploadFile

    monkeypatch.setattr(bentoml_context, "request_temp_dir", lambda: str(tmp_path))  # the request's temp dir

    module = sys.modules["serving.service"]
    name = "é" * 140 + ".jpg"  # 284 bytes of UTF-8
    upload = UploadFile(io.BytesIO(b"\x89PNG..."), filename=name)
    spec = module.DeepfakeDetector.apis["score_image"].input_spec
    path = spec.model_validate({"file": upload}).file
    try:
        stored = module._upload_name(path)
        assert len(stored.encode()) <= module.SERVE.max_name_bytes and stored.endswith(".jpg")
        assert stored.startswith("é" * 10) and path.read_bytes() == b"\x89PNG..."
    finally:
        path.unlink()


def test_shutdown_hook_writes_the_request_log(svc):
    detector, tmp = svc
    hooks = [
        name
        for name in dir(type(detector))
        if getattr(getattr(type(detector), name), "__bentoml_shutdown_hook__", False)
    ]
    assert hooks, "DeepfakeDetector has no @bentoml.on_shutdown hook"
    from deepfake_detect.scoring.requestlog import make_record, read_request_log

    before = len(read_request_log(tmp / "requests"))
    detector.request_log.write([make_record(request_id=f"s{i}", probability=0.5) for i in range(5000)])
    for name in hooks:
        getattr(detector, name)()
    assert len(read_request_log(tmp / "requests")) == before + 5000
    assert not detector.request_log._thread.is_alive()
