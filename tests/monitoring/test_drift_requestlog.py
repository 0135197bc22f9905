"""The current window from the serving request log (requestlog.append_records → drift)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from drift_fixtures import degrade, synthetic_crops

from deepfake_detect.config import load_params
from deepfake_detect.contracts.drift import DriftResult
from deepfake_detect.monitoring.drift import drift_report
from deepfake_detect.monitoring.tables import DriftInputError, current_from_request_log, features_from_crops
from deepfake_detect.scoring.requestlog import RequestLogRecord, append_records, make_record

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _records(predictor, crops, start: datetime, tag: str = "tiny_cnn:test") -> list[RequestLogRecord]:
    feats = features_from_crops(predictor, crops)
    emb = [c for c in feats.columns if c.startswith("emb_")]
    out = []
    for i, row in feats.iterrows():
        out.append(
            make_record(
                time=(start + timedelta(minutes=int(i))).isoformat(),
                request_id=f"r{i}",
                endpoint="score_image",
                file=f"f{i}.jpg",
                face=0,
                model_tag=tag,
                probability=float(row["probability"]),
                label="FAKE" if row["probability"] > 0.5 else "REAL",
                face_size=64.0,
                **{k: float(row[k]) for k in ("width", "height", "brightness", "contrast", "sharpness", "saturation")},
                embedding=[float(row[c]) for c in emb],
            )
        )
    return out


def test_window_reads_only_its_days_and_model(predictor, tmp_path):
    logs = tmp_path / "logs"
    append_records(logs, _records(predictor, synthetic_crops(30, seed=11), NOW - timedelta(days=3)))
    append_records(logs, _records(predictor, synthetic_crops(40, seed=12), NOW - timedelta(hours=10)))
    append_records(logs, _records(predictor, synthetic_crops(5, seed=13), NOW - timedelta(hours=5), tag="other:1"))
    df = current_from_request_log(logs, NOW - timedelta(days=1), NOW, model_tag="tiny_cnn:test")
    assert len(df) == 40 and {"emb_0", "sharpness", "probability"} <= set(df.columns)
    assert "embedding" not in df.columns
    assert current_from_request_log(logs, NOW + timedelta(days=1), NOW + timedelta(days=2)).empty
    assert current_from_request_log(tmp_path / "nope", None, None).empty  # no traffic yet: no verdict, no error


def test_ragged_embeddings_are_named(predictor, tmp_path):
    recs = _records(predictor, synthetic_crops(3, seed=14), NOW)
    recs[1] = recs[1].model_copy(update={"embedding": recs[1].embedding[:3]})
    append_records(tmp_path, recs)
    with pytest.raises(DriftInputError, match=r"field 'embedding'.*one length"):
        current_from_request_log(tmp_path, None, None)


def test_drift_report_over_request_log_window(predictor, tiny_model_dir, tmp_path, monkeypatch):
    """End to end through params: reference crops from a split manifest, current from the log."""
    import pandas as pd
    from drift_fixtures import write_crops

    from deepfake_detect.data.manifest import MANIFEST_COLUMNS

    monkeypatch.chdir(tmp_path)
    paths = write_crops(synthetic_crops(120, seed=21), tmp_path / "crops")
    manifest = pd.DataFrame({c: [""] * len(paths) for c in MANIFEST_COLUMNS})
    manifest["crop_id"] = [p.stem for p in paths]
    manifest["path"] = [str(p) for p in paths]
    manifest["split"] = "val"
    manifest.to_csv(tmp_path / "split.csv", index=False)
    p = load_params(
        REPO_PARAMS,
        {
            "balance": {"manifest": "split.csv"},
            "promote": {"dir": str(tiny_model_dir)},
            "serve": {"request_log_dir": "logs"},
            "drift": {"report_dir": "reports/drift", "window_days": 1},
        },
    )
    nothing = drift_report(p, end=NOW, html=False).result  # serving has not logged anything yet
    assert nothing.status == "insufficient_data" and nothing.drift_detected is False
    append_records("logs", _records(predictor, synthetic_crops(80, seed=22), NOW - timedelta(hours=20)))
    quiet = drift_report(p, end=NOW, html=False).result
    assert quiet.status == "ok" and not quiet.drift_detected, quiet
    assert quiet.window["source"] == "request_log" and quiet.n_current == 80
    assert quiet.window["start"] == (NOW - timedelta(days=1)).isoformat()
    later = NOW + timedelta(hours=1)
    append_records("logs", _records(predictor, [degrade(c) for c in synthetic_crops(80, seed=23)], later))
    loud = drift_report(p, start=later, end=later + timedelta(hours=5), html=False).result
    assert loud.drift_detected and loud.n_current == 80
    assert DriftResult.read(tmp_path / "reports/drift/latest.json").drift_detected is True


def test_the_window_says_how_much_traffic_was_unlike_the_training_data(predictor, tmp_path):
    """Each logged face carries the release's own flags; the drift result counts them by reason, so a
    rise in heavily compressed uploads shows even where no image statistic or embedding drifts."""
    from deepfake_detect.contracts.drift import UnfamiliarTraffic
    from deepfake_detect.monitoring.tables import unfamiliar_traffic

    records = _records(predictor, synthetic_crops(20, seed=31), NOW - timedelta(hours=2))
    flags = [(True, False)] * 3 + [(False, True)] * 5 + [(True, True)] * 2 + [(False, False)] * 6 + [(None, None)] * 4
    records = [
        r.model_copy(update={"unfamiliar": u, "too_compressed": c}) for r, (u, c) in zip(records, flags, strict=True)
    ]
    append_records(tmp_path / "logs", records)
    window = current_from_request_log(tmp_path / "logs", None, None)
    got = unfamiliar_traffic(window)
    assert got == UnfamiliarTraffic(n_faces=20, n_judged=16, unlike_faces=5, too_compressed=7, either=10)
    assert got.share == pytest.approx(10 / 16)
    unjudged = window.assign(unfamiliar=None, too_compressed=None)
    assert unfamiliar_traffic(unjudged).share is None  # nothing judged (a release without the tests): no share
    assert unfamiliar_traffic(window.drop(columns=["unfamiliar", "too_compressed"])) is None  # media: no flags

    from deepfake_detect.monitoring.drift import compare

    dp = load_params(REPO_PARAMS).drift
    reference = features_from_crops(predictor, synthetic_crops(40, seed=32))
    result = compare(reference, window, dp, {"source": "request_log"}, tmp_path / "drift", html=False).result
    assert result.status == "insufficient_data" and result.unfamiliar == got  # too few faces to test: still counted
    assert result.summary()["unfamiliar"]["too_compressed"] == 7
    from deepfake_detect.pipeline.report import drift_lines

    assert "unlike the training data: 62% of 16 judged faces (5 by their faces, 7 compressed harder" in "\n".join(
        drift_lines(result)
    )
    media = compare(reference, reference, dp, {"source": "media"}, tmp_path / "drift", html=False).result
    assert media.unfamiliar is None
