"""The release rule over metrics/<model>.json files: the retrain DAG's evaluation gate judges the
candidates promote would pick, with the same metric, level and direction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from deepfake_detect.config import Params, deep_merge, load_params
from deepfake_detect.contracts.decisions import GateDecision
from deepfake_detect.release.gate import GateFailed, check_gate, pick_best, read_candidates

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"  # the one place defaults are written


def _write(metrics_for, folder, name, auc, log_loss=0.5, video=None):
    """A real ModelMetrics file (tests/conftest.py ``metrics_for``) with these figures put in."""
    folder.mkdir(parents=True, exist_ok=True)
    m = metrics_for(name, frame={"auc": auc, "log_loss": log_loss}, video=video)
    (folder / f"{name}.json").write_text(json.dumps(m.model_dump(mode="json") | {"frame": m.frame.model_dump()}))


def _params(metrics_dir, **promote) -> Params:
    return load_params(
        REPO_PARAMS,
        {
            "train": {"models": ["baseline_cnn", "sklearn_fft"]},
            "evaluate": {"metrics_dir": str(metrics_dir)},
            "promote": promote,
        },
    )


def test_best_model_and_gate(tmp_path, make_metrics):
    _write(make_metrics, tmp_path, "baseline_cnn", auc=0.71, log_loss=0.6, video={"auc": 0.8})
    _write(make_metrics, tmp_path, "sklearn_fft", auc=0.65, log_loss=0.5, video={"auc": 0.9})
    (tmp_path / "promotion.json").write_text(json.dumps({"promoted": "baseline_cnn"}))  # not a candidate: ignored
    candidates = read_candidates(_params(tmp_path))
    assert pick_best(candidates, "auc", "frame") == "baseline_cnn"
    assert pick_best(candidates, "auc", "video") == "sklearn_fft"
    assert pick_best(candidates, "log_loss", "frame") == "sklearn_fft"
    assert check_gate(_params(tmp_path), 0.7).passed
    with pytest.raises(
        GateFailed,
        match=r"baseline_cnn \(of baseline_cnn, sklearn_fft\) has frame auc=0\.7100, below the minimum 0\.75",
    ):
        check_gate(_params(tmp_path), 0.75)
    with pytest.raises(GateFailed, match="above the maximum"):
        check_gate(_params(tmp_path, metric="log_loss"), 0.4)


def test_gate_without_metrics_or_with_broken_file(tmp_path, make_metrics):
    with pytest.raises(GateFailed, match=r"baseline_cnn\.json: no metrics .*run `deepfake evaluate` first"):
        check_gate(_params(tmp_path), 0.5)
    _write(make_metrics, tmp_path, "baseline_cnn", auc=0.8)
    (tmp_path / "sklearn_fft.json").write_text("{not json")
    with pytest.raises(GateFailed, match=r"sklearn_fft\.json: not a valid ModelMetrics"):
        check_gate(_params(tmp_path), 0.5)
    _write(make_metrics, tmp_path, "sklearn_fft", auc=float("nan"))
    with pytest.raises(GateFailed, match=r"model sklearn_fft: frame auc is not finite"):
        check_gate(_params(tmp_path), 0.5)


def _gate_cli(tmp_path, make_metrics, candidates: list[str], gate_min: float = 0.6):
    """`deepfake gate` on metrics of xception (0.55) and sklearn_fft (0.9) with promote.candidates set."""
    from typer.testing import CliRunner

    from deepfake_detect.cli.main import app

    metrics = tmp_path / "metrics"
    _write(make_metrics, metrics, "xception", auc=0.55, log_loss=0.7, video={"auc": 0.55})
    _write(make_metrics, metrics, "sklearn_fft", auc=0.9, log_loss=0.3, video={"auc": 0.9})
    changes = {
        "train": {"models": ["xception", "sklearn_fft"]},
        "evaluate": {"metrics_dir": str(metrics)},
        "promote": {"candidates": candidates, "metric": "auc", "level": "frame"},
        "retrain": {"gate_min": gate_min},
    }
    params = tmp_path / "params.yaml"  # the repo's, with these changes
    params.write_text(json.dumps(deep_merge(yaml.safe_load(REPO_PARAMS.read_text()), changes)))
    return CliRunner().invoke(app, ["gate", "--params", str(params)])


def test_gate_judges_only_the_models_promote_may_promote(tmp_path, make_metrics):
    res = _gate_cli(tmp_path, make_metrics, ["xception"])
    assert res.exit_code == 1, res.output
    assert "xception" in res.output and "0.5500" in res.output
    everyone = _gate_cli(tmp_path / "all", make_metrics, [])
    assert everyone.exit_code == 0, everyone.output
    assert GateDecision.model_validate_json(everyone.output.strip().splitlines()[-1]).model == "sklearn_fft"
