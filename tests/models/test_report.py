"""`deepfake report`, the end of `make demo`: the models side by side, what promote decided and why,
and where each report is, read from what a real train → evaluate → promote run wrote."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from deepfake_detect.cli.main import app
from deepfake_detect.config import Params
from deepfake_detect.monitoring.verdict import insufficient
from deepfake_detect.pipeline import promote as promote_stage
from deepfake_detect.pipeline.evaluate import run_evaluate
from deepfake_detect.pipeline.train import run_train


def _params_file(p: Params, folder: Path, **changes: dict) -> Path:
    raw = p.model_dump(mode="json", by_alias=True)
    for section, values in changes.items():
        raw[section] = {**raw[section], **values}
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_report_after_a_real_run_shows_the_table_the_promotion_and_the_reports(
    split_manifest, tmp_path, make_params, bento_home, monkeypatch
):
    p = make_params(tmp_path, split_manifest)
    run_train(p, "sklearn_fft")
    run_evaluate(p)
    decision = promote_stage.run_promote(p)
    metrics = json.loads((p.evaluate.metrics_dir / "sklearn_fft.json").read_text())
    drift_dir = tmp_path / "drift"
    drift_dir.mkdir()
    (drift_dir / "drift-1.html").write_text("<html></html>")
    base = {"window": {}, "n_reference": 0, "n_current": 0, "created": "2026-01-01T00:00:00+00:00"}
    latest = insufficient(p.drift, base).model_copy(update={"report_html": str(drift_dir / "drift-1.html")})
    latest.write(drift_dir / "latest.json")  # what drift.compare writes
    params = _params_file(p, tmp_path, drift={"report_dir": str(drift_dir)})
    monkeypatch.chdir(tmp_path)  # no dvc_plots/ and no docs/ here: both are named with what makes them

    res = CliRunner().invoke(app, ["report", "--params", str(params)])
    assert res.exit_code == 0, res.output
    out = res.stdout
    table = out.split("\n\n")[0].splitlines()
    assert len(table) == 4 and max(len(line) for line in table) <= 100, out  # fits a terminal: no wrapped wall
    row = next(line for line in table if line.strip().startswith("sklearn_fft"))
    figures = [float(x) for x in row.split()[1:7]]
    expected = [metrics["frame"][k] for k in ("auc", "log_loss", "balanced_accuracy")]
    expected += [metrics["video"][k] for k in ("auc", "log_loss", "balanced_accuracy")]
    assert figures == [round(v, 3) for v in expected], row
    assert row.rstrip().endswith("<- promoted")
    assert f"promoted: sklearn_fft as release {decision.tag}" in out and decision.reason in out
    assert "best auc at frame level" in out
    assert f"python -m webbrowser {(drift_dir / 'drift-1.html').as_uri()}" in out
    assert "GX Data Docs, manifest" in out and "run `deepfake validate`" in out
    assert "DVC plots" in out and "run `dvc plots show`" in out
    assert f"less {p.evaluate.comparison}" in out


def test_report_before_any_run_says_what_to_run(split_manifest, tmp_path, make_params, monkeypatch):
    p = make_params(tmp_path, split_manifest)
    params = _params_file(p, tmp_path)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["report", "--params", str(params)])
    assert res.exit_code == 0, res.output
    assert "no metrics in" in res.stdout and "run `dvc repro` or `deepfake evaluate`" in res.stdout
    assert "not written yet" in res.stdout


def test_a_metrics_file_without_video_metrics_is_named(split_manifest, tmp_path, make_params, monkeypatch):
    p = make_params(tmp_path, split_manifest)
    p.evaluate.metrics_dir.mkdir(parents=True)
    (p.evaluate.metrics_dir / "odd.json").write_text(
        json.dumps({"auc": 0.5, "log_loss": 0.7, "balanced_accuracy": 0.5})
    )
    params = _params_file(p, tmp_path)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["report", "--params", str(params)])
    out = " ".join(res.output.split())  # the message names the file and each missing block
    assert res.exit_code == 2 and "odd.json: not a valid ModelMetrics" in out and "video: Field required" in out, out
