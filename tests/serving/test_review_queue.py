"""Review queue: which scored requests keep their face crops (never the upload), what an item holds,
the drift rule, retention, and the one hook in the scorer's request-log path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from serving_kit import write_test_params

from deepfake_detect.config import ConfigError, load_params
from deepfake_detect.contracts.drift import DriftResult
from deepfake_detect.scoring.recorder import Recorder
from deepfake_detect.scoring.requestlog import RequestLog, read_request_log
from deepfake_detect.scoring.review import ReviewItem, ReviewQueue, review_reason
from deepfake_detect.scoring.scorer import local_scorer


def _params(tmp: Path, review: dict, **serve):
    path = write_test_params(tmp, **serve)
    raw = yaml.safe_load(path.read_text())
    raw["serve"]["review"] = {**raw["serve"]["review"], "dir": str(tmp / "review"), **review}
    raw["drift"]["report_dir"] = str(tmp / "drift")
    path.write_text(yaml.safe_dump(raw))
    return load_params(path)


def test_review_is_off_by_default(repo_root):
    assert load_params(repo_root / "params.yaml").serve.review.keep_crops is False


def test_keeping_crops_needs_the_request_log(tmp_path):
    with pytest.raises(ConfigError, match=r"serve.*request_log"):
        _params(tmp_path, {"keep_crops": True}, request_log=False)


@pytest.mark.parametrize(
    "score, drifted, draw, expected",
    [
        (0.55, False, 0.99, "margin"),  # within 0.1 of the threshold
        (0.45, False, 0.99, "margin"),
        (0.95, True, 0.99, "drift"),  # confident, but the monitor says the traffic drifted
        (0.95, False, 0.001, "audit"),  # confident, drawn for the audit sample
        (0.95, False, 0.99, None),  # confident, not drawn: nothing kept
        (0.05, False, 0.5, None),
    ],
)
def test_which_requests_need_a_person(tmp_path, score, drifted, draw, expected):
    rp = _params(tmp_path, {"keep_crops": True, "margin": 0.1, "audit_rate": 0.01, "on_drift": True}).serve.review
    assert review_reason(score, 0.5, rp, drifted=drifted, draw=draw) == expected


def test_a_request_near_the_threshold_keeps_its_crops_named_by_its_request_log_id(tmp_path, face_model, tiny_sample):
    params = _params(tmp_path, {"keep_crops": True, "margin": 0.5, "audit_rate": 0.0})
    request_log = RequestLog(params.serve.request_log_dir)
    clip = sorted(tiny_sample.glob("*.mp4"))[0]
    result = local_scorer(params, face_model, Recorder(params, request_log)).score_video(clip)
    request_log.close()
    assert result.faces_found > 0
    items = ReviewQueue(params).items()
    assert len(items) == 1
    item = items[0]
    logged = read_request_log(params.serve.request_log_dir)
    assert item.request_id == result.request_id == logged["request_id"].iloc[0]
    assert item.model_tag == result.model_tag and item.score == result.probability
    assert item.reason == "margin" and item.file == clip.name and item.label is None
    assert abs(datetime.fromisoformat(item.time) - datetime.now(UTC)) < timedelta(minutes=5)
    folder = params.serve.review.dir / item.id
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == sorted([c.name for c in item.crops] + ["item.json"])  # crops only, never the upload
    assert len(item.crops) == result.faces_found
    assert not any(p.suffix == ".mp4" for p in params.serve.review.dir.rglob("*"))


def test_nothing_is_kept_when_review_is_off(tmp_path, face_model, tiny_sample):
    params = _params(tmp_path, {"keep_crops": False, "margin": 0.5})
    request_log = RequestLog(params.serve.request_log_dir)
    local_scorer(params, face_model, Recorder(params, request_log)).score_video(sorted(tiny_sample.glob("*.mp4"))[0])
    request_log.close()
    assert not params.serve.review.dir.exists()


def _faces(n: int = 2):
    from deepfake_detect.faces.clip import FaceCrop

    rng = np.random.default_rng(0)
    return [
        FaceCrop(3 * i, 0, (10, 10, 50, 50), 0.9, rng.integers(0, 255, (64, 64, 3), np.uint8), 0, 0.97)
        for i in range(n)
    ]


def _offer(queue: ReviewQueue, request_id: str = "r1", score: float = 0.97):
    return queue.consider(
        request_id=request_id,
        endpoint="score_video",
        file="clip.mp4",
        model_tag="m:1",
        threshold=0.5,
        score=score,
        faces=_faces(),
    )


def test_while_the_latest_drift_result_says_drifted_every_request_is_kept(tmp_path):
    params = _params(tmp_path, {"keep_crops": True, "margin": 0.0, "audit_rate": 0.0, "on_drift": True})
    queue = ReviewQueue(params)
    assert _offer(queue, "before") is None  # confident and no drift: not kept
    latest = params.drift.report_dir / "latest.json"
    DriftResult(**_drift_result(True)).write(latest)
    item = _offer(queue, "during")
    assert item is not None and item.reason == "drift"
    DriftResult(**_drift_result(False)).write(latest)
    assert _offer(queue, "after") is None


def _drift_result(drifted: bool) -> dict:
    return {
        "status": "ok",
        "drift_detected": drifted,
        "signals": ["columns"] if drifted else [],
        "window": {},
        "n_reference": 100,
        "n_current": 100,
        "created": datetime.now(UTC).isoformat(),
        "min_signals": 1,
        "share_drifted_columns": 0.5 if drifted else 0.0,
        "drift_share": 0.25,
        "drifted_columns": ["brightness"] if drifted else [],
        "columns": {},
        "column_method": "ks",
        "embedding_drift_score": None,
        "embedding_drift": None,
        "embedding_method": "model",
        "embedding_dims": None,
        "prediction_drift": None,
        "prediction_drift_score": None,
        "prediction_method": "ks",
        "mean_probability": None,
        "message": None,
        "report_html": None,
        "report_json": None,
    }


def test_items_older_than_the_retention_are_deleted(tmp_path):
    params = _params(tmp_path, {"keep_crops": True, "margin": 0.5, "days": 3})
    queue = ReviewQueue(params)
    old, new = _offer(queue, "old"), _offer(queue, "new")
    old_json = params.serve.review.dir / old.id / "item.json"
    aged = ReviewItem.read(old_json).model_copy(update={"time": (datetime.now(UTC) - timedelta(days=4)).isoformat()})
    aged.write(old_json)
    assert queue.prune() == [old.id]
    assert not (params.serve.review.dir / old.id).exists() and (params.serve.review.dir / new.id).exists()
    new_json = params.serve.review.dir / new.id / "item.json"
    ReviewItem.read(new_json).model_copy(update={"time": aged.time}).write(new_json)
    ReviewQueue(params)  # opening a queue (a server worker starting, `deepfake review list`) prunes too
    assert not (params.serve.review.dir / new.id).exists()


def test_a_queue_that_cannot_write_never_fails_the_request(tmp_path, caplog):
    params = _params(tmp_path, {"keep_crops": True, "margin": 0.5})
    params.serve.review.dir.parent.mkdir(parents=True, exist_ok=True)
    params.serve.review.dir.write_text("a file where the queue folder should be")
    assert _offer(ReviewQueue(params)) is None
    assert "review queue" in caplog.text


def test_an_upload_name_is_stored_without_control_characters(tmp_path, face_model, tiny_sample):
    params = _params(tmp_path, {"keep_crops": True, "margin": 0.5, "audit_rate": 0.0})
    request_log = RequestLog(params.serve.request_log_dir)
    evil = "x\x1b[2J\nabcdef123456  2026-01-01 \u202eforged.mp4"
    clip = sorted(tiny_sample.glob("*.mp4"))[0]
    result = local_scorer(params, face_model, Recorder(params, request_log)).score_video(clip, evil)
    request_log.close()
    clean = "x[2Jabcdef123456  2026-01-01 forged.mp4"
    assert result.file == clean
    assert set(read_request_log(params.serve.request_log_dir)["file"]) == {clean}
    assert [i.file for i in ReviewQueue(params).items()] == [clean]
