"""`deepfake drift` ends with a line a person reads per signal and the HTML report's path (on stderr;
stdout keeps the one JSON line the monitor DAG parses)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from drift_fixtures import degrade, synthetic_crops, write_crops
from typer.testing import CliRunner

from deepfake_detect.cli.main import app
from deepfake_detect.config import deep_merge

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def _run(tmp_path: Path, model: Path, *extra: str, **drift: object):
    ref_dir, cur_dir = tmp_path / "ref", tmp_path / "cur"
    if not ref_dir.exists():
        write_crops(synthetic_crops(80, seed=5), ref_dir)
        write_crops([degrade(c) for c in synthetic_crops(60, seed=6)], cur_dir)
    raw = deep_merge(yaml.safe_load(REPO_PARAMS.read_text()), {"drift": {"report_dir": str(tmp_path / "r"), **drift}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    args = ["drift", "--params", str(tmp_path / "params.yaml"), "--model", str(model), "--crops"]
    args += ["--reference-media", str(ref_dir), "--media", str(cur_dir), *extra]
    return CliRunner().invoke(app, args)


def test_drift_ends_with_a_verdict_per_signal_and_the_html_path(tiny_model_dir, tmp_path):
    res = _run(tmp_path, tiny_model_dir, min_rows=20)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])  # stdout: the JSON line alone
    tail = res.stderr.strip().splitlines()[-5:]
    assert tail[0].startswith("drift: DETECTED: ") and f"{len(summary['signals'])} of 3 signals fire" in tail[0]
    for line, signal in zip(tail[1:4], ("columns", "embedding", "prediction"), strict=True):
        verdict = "DRIFT" if signal in summary["signals"] else "no drift"
        assert line.split()[:2] == [signal, *verdict.split()[:1]] and verdict in line, line
    assert "sharpness" in tail[1] and "mean P(FAKE)" in tail[3]
    uri = Path(summary["report_html"]).resolve().as_uri()
    assert tail[4] == f"report: {summary['report_html']}  (open: python -m webbrowser {uri})", tail[4]
    assert Path(summary["report_html"]).is_file()


def test_too_small_a_window_says_no_verdict(tiny_model_dir, tmp_path):
    res = _run(tmp_path, tiny_model_dir, min_rows=1000)
    assert res.exit_code == 0, res.output
    tail = res.stderr.strip().splitlines()[-5:]
    assert tail[0].startswith("drift: NO VERDICT: 60 faces in the window"), tail
    assert all(line.split()[1:3] == ["not", "tested"] for line in tail[1:4]), tail
    assert tail[4].startswith("report: no HTML (no test ran); the figures are in ")
