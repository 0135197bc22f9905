"""A known failure of any `deepfake` command is one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from deepfake_detect.data.manifest import MANIFEST_COLUMNS
from deepfake_detect.errors import DeepfakeError


def _deepfake(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("deepfake")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _one_label_manifest(path: Path) -> None:
    rows = [
        dict.fromkeys(MANIFEST_COLUMNS, 0) | {"crop_id": f"c{i}", "label": "FAKE", "group": f"g{i}"} for i in range(4)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def test_balance_on_a_one_label_manifest_is_one_line_and_exit_2(tmp_path, workspace):
    _one_label_manifest(tmp_path / "clean.csv")
    workspace(clean={"manifest": "clean.csv"})
    proc = _deepfake("balance", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "REAL and FAKE" in errors[0], proc.stderr


def test_balance_without_its_input_names_the_file(tmp_path, workspace):
    workspace(clean={"manifest": "missing.csv"})
    proc = _deepfake("balance", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "missing.csv" in proc.stderr


@pytest.mark.parametrize(
    "module, name",
    [
        ("deepfake_detect.config", "ConfigError"),
        ("deepfake_detect.data.manifest", "SplitError"),
        ("deepfake_detect.models.keras_common", "WeightsUnavailable"),
        ("deepfake_detect.monitoring.drift", "DriftInputError"),
        ("deepfake_detect.models.predictor", "ModelLoadError"),
        ("deepfake_detect.release.gate", "CandidateError"),
        ("deepfake_detect.release.gate", "GateFailed"),
        ("deepfake_detect.pipeline.promote", "PromoteError"),
        ("deepfake_detect.data.download", "DownloadError"),
        ("deepfake_detect.data.sources", "LayoutError"),
        ("deepfake_detect.pipeline.validate", "ValidationFailed"),
        ("deepfake_detect.release.metrics", "MetricsError"),
        ("deepfake_detect.scoring.scan", "ScanInputError"),
        ("deepfake_detect.media.images", "ImageReadError"),
        ("deepfake_detect.media.video", "VideoError"),
        ("deepfake_detect.data.manifest", "ManifestError"),
        ("deepfake_detect.contracts.base", "ContractError"),
        ("deepfake_detect.monitoring.verdict", "SnapshotFormatError"),
        ("deepfake_detect.media.checks", "ScoringError"),
        ("deepfake_detect.faces.blazeface", "DetectorUnavailableError"),
        ("deepfake_detect.scoring.review", "ReviewError"),
    ],
)
def test_every_project_error_is_a_deepfake_error(module, name):
    import importlib

    assert issubclass(getattr(importlib.import_module(module), name), DeepfakeError)
