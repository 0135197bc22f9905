"""Drift reports through Evidently 0.7 on synthetic and real face crops, with a real Keras model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from drift_fixtures import degrade, synthetic_crops, write_crops

from deepfake_detect.config import ConfigError, DriftParams, deep_merge, load_params
from deepfake_detect.contracts.drift import DriftResult
from deepfake_detect.media.images import read_rgb
from deepfake_detect.monitoring.drift import compare
from deepfake_detect.monitoring.tables import DriftInputError, features_from_crops

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"  # the one place defaults are written


def drift_params(**changes) -> DriftParams:
    """The repo's drift settings with ``changes``, validated."""
    return load_params(REPO_PARAMS, {"drift": changes}).drift


@pytest.fixture(scope="module")
def synthetic(predictor):
    ref = features_from_crops(predictor, synthetic_crops(160, seed=1))
    same = features_from_crops(predictor, synthetic_crops(100, seed=2))
    shifted = features_from_crops(predictor, [degrade(c) for c in synthetic_crops(100, seed=3)])
    return ref, same, shifted


def test_same_distribution_is_quiet_and_report_is_written(synthetic, tmp_path):
    ref, same, _ = synthetic
    out = compare(ref, same, drift_params(), {"source": "test"}, tmp_path, stem="same")
    assert not out.drift_detected, out.result
    saved = DriftResult.read(tmp_path / "same.json")
    assert saved == out.result and saved.window == {"source": "test"}
    assert saved == DriftResult.read(tmp_path / "latest.json")
    assert 0 <= saved.share_drifted_columns < 0.5
    html = (tmp_path / "same.html").read_text()
    assert "Drift in embeddings" in html and "Drift for column sharpness" in html and len(html) > 100_000


def test_blur_and_recompression_raise_drift(synthetic, tmp_path):
    ref, _, shifted = synthetic
    r = compare(ref, shifted, drift_params(), {"source": "test"}, tmp_path, html=False).result
    assert r.drift_detected and "columns" in r.signals
    assert "sharpness" in r.drifted_columns and r.share_drifted_columns >= 0.5
    assert r.embedding_drift_score is not None and r.report_html is None


def test_min_signals_decides(synthetic, tmp_path):
    ref, _, shifted = synthetic
    r = compare(ref, shifted, drift_params(min_signals=3), {}, tmp_path, html=False).result
    assert r.drift_detected == (len(r.signals) == 3)


def test_small_window_is_insufficient_not_drift(synthetic, tmp_path):
    ref, same, _ = synthetic
    r = compare(ref, same.iloc[:5], drift_params(min_rows=30), {}, tmp_path).result
    assert r.status == "insufficient_data" and r.drift_detected is False and "5 faces" in r.message


def test_bad_tables_name_the_problem(synthetic, tmp_path):
    ref, same, _ = synthetic
    with pytest.raises(DriftInputError, match=r"current window: missing column.*sharpness"):
        compare(ref, same.drop(columns=["sharpness"]), drift_params(), {}, tmp_path)
    bad = same.copy()
    bad.loc[0, "brightness"] = np.nan
    with pytest.raises(DriftInputError, match=r"non-finite.*brightness"):
        compare(ref, bad, drift_params(), {}, tmp_path)
    with pytest.raises(DriftInputError, match="embedding sizes differ"):
        compare(ref, same.drop(columns=["emb_0"]), drift_params(), {}, tmp_path)


def test_drift_params_are_validated(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("drift:\n  columns: [brightness, colour]\n")
    with pytest.raises(ConfigError, match=r"drift\.columns.*colour"):
        load_params(path)
    path.write_text("drift:\n  thresold: 0.1\n")
    with pytest.raises(ConfigError, match=r"drift\.thresold"):
        load_params(path)


@pytest.mark.shared
def test_real_crops_recompressed_drift_and_same_split_does_not(predictor, real_faces, tmp_path):
    rows = real_faces.sample(n=420, random_state=0)
    crops = [read_rgb(p) for p in rows["path"]]
    ref = features_from_crops(predictor, crops[:220])
    same = features_from_crops(predictor, crops[220:])
    worse = features_from_crops(predictor, [degrade(c, blur=2.0, quality=12) for c in crops[220:]])
    quiet = compare(ref, same, drift_params(), {}, tmp_path, html=False).result
    loud = compare(ref, worse, drift_params(), {}, tmp_path, html=False).result
    assert not quiet.drift_detected, quiet
    assert loud.drift_detected and "sharpness" in loud.drifted_columns, loud


def test_cli_media_against_reference_media(tiny_model_dir, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from deepfake_detect.cli.main import app

    ref_dir, cur_dir = tmp_path / "ref", tmp_path / "cur"
    write_crops(synthetic_crops(80, seed=5), ref_dir)
    write_crops([degrade(c) for c in synthetic_crops(60, seed=6)], cur_dir)
    (cur_dir / "broken.png").write_bytes(b"not an image")  # skipped with a warning naming it
    raw = deep_merge(yaml.safe_load(REPO_PARAMS.read_text()), {"drift": {"report_dir": str(tmp_path / "reports")}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(deep_merge(raw, {"drift": {"min_rows": 20}})))
    monkeypatch.chdir(tmp_path)
    args = [
        "drift",
        "--params",
        "params.yaml",
        "--model",
        str(tiny_model_dir),
        "--crops",
        "--reference-media",
        str(ref_dir),
        "--media",
        str(cur_dir),
        "--fail-on-drift",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 3, res.output
    line = json.loads(res.stdout.strip().splitlines()[-1])
    assert line["drift_detected"] is True and Path(line["report_html"]).exists() and line["n_current"] == 60
    saved = json.loads((tmp_path / "reports" / "latest.json").read_text())
    assert saved["window"]["source"] == "media" and saved["window"]["reference"]["source"] == "media"
    res = CliRunner().invoke(app, [*args[:-1], "--no-html"])
    assert res.exit_code == 0 and json.loads(res.stdout.strip().splitlines()[-1])["report_html"] is None
    res = CliRunner().invoke(
        app, ["drift", "--params", "params.yaml", "--model", str(tmp_path / "nope"), "--media", str(cur_dir)]
    )
    assert res.exit_code == 2 and "record.json" in res.output


def test_reference_from_split_manifest_is_cached(predictor, tmp_path):
    from deepfake_detect.data.manifest import MANIFEST_COLUMNS
    from deepfake_detect.monitoring.tables import load_or_build_reference

    paths = write_crops(synthetic_crops(40, seed=7), tmp_path / "crops")
    manifest = pd.DataFrame({c: [""] * 40 for c in MANIFEST_COLUMNS})
    manifest["crop_id"] = [f"c{i}" for i in range(40)]
    manifest["path"] = [str(p) for p in paths]
    manifest["split"] = ["val"] * 30 + ["train"] * 10
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    dp = drift_params(report_dir=tmp_path / "drift", min_rows=10, reference_size=25)
    ref = load_or_build_reference(tmp_path / "manifest.csv", predictor, dp, seed=42)
    assert len(ref) == 25 and set(ref["file"]) <= set(manifest["path"][:30])
    assert (tmp_path / "drift" / "reference.csv").exists()
    again = load_or_build_reference(tmp_path / "manifest.csv", predictor, dp, seed=42)
    pd.testing.assert_frame_equal(ref, again, check_dtype=False)
    with pytest.raises(DriftInputError, match="split 'test' has 0 crops"):
        load_or_build_reference(
            tmp_path / "manifest.csv", predictor, drift_params(reference_split="test", report_dir=tmp_path / "d2"), 42
        )


def test_tiny_windows_still_get_an_html_report(synthetic, tmp_path):
    """Too few rows for the embedding picture (a t-SNE): the report leaves it out, the verdict stays."""
    ref, same, _ = synthetic
    out = compare(ref.iloc[:14], same.iloc[:12], drift_params(min_rows=5), {}, tmp_path, stem="tiny")
    assert out.html is not None and out.html.exists()
    assert "Drift in embeddings" not in out.html.read_text()
    assert out.result.embedding_drift_score is not None and out.result.embedding_drift is not None
