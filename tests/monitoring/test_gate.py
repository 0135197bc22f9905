"""The retrain DAG's evaluation gate over metrics/<model>.json files."""

from __future__ import annotations

import json

import pytest

from deepfake_detect.gate import GateFailed, best_model, check_gate


def _write(folder, name, **metrics):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(metrics))


def test_best_model_and_gate(tmp_path):
    _write(tmp_path, "cnn", auc=0.71, log_loss=0.6, video={"auc": 0.8})
    _write(tmp_path, "fft", auc=0.65, log_loss=0.5, video={"auc": 0.9})
    (tmp_path / "promotion.json").write_text(json.dumps({"promoted": "cnn"}))
    assert best_model(tmp_path, "auc") == ("cnn", 0.71)
    assert best_model(tmp_path, "auc", "video") == ("fft", 0.9)
    assert best_model(tmp_path, "log_loss") == ("fft", 0.5)
    assert check_gate(tmp_path, "auc", 0.7)["passed"]
    with pytest.raises(GateFailed, match=r"cnn has frame auc=0\.7100, below the minimum 0\.75"):
        check_gate(tmp_path, "auc", 0.75)
    with pytest.raises(GateFailed, match="above the maximum"):
        check_gate(tmp_path, "log_loss", 0.4)


def test_gate_without_metrics_or_with_broken_file(tmp_path):
    with pytest.raises(GateFailed, match="did evaluate run"):
        check_gate(tmp_path, "auc", 0.5)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(GateFailed, match=r"bad\.json: not valid JSON"):
        check_gate(tmp_path, "auc", 0.5)
