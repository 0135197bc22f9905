"""`bentoml build` packs the service, the reviewer page, the package source, params.yaml and the referenced
model, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from serving_kit import ROOT

pytestmark = pytest.mark.slow


def test_bento_builds_offline_with_the_model(bentoml_home):
    env = {**os.environ, "BENTOML_HOME": str(bentoml_home), "PIP_NO_INDEX": "1"}
    bentoml = str(Path(sys.executable).parent / "bentoml")
    out = subprocess.run(
        [bentoml, "build", "-f", "serving/bentofile.yaml", ".", "--output", "tag"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    bentos = list((bentoml_home / "bentos" / "deepfake-detector-service").glob("*/bento.yaml"))
    assert len(bentos) == 1
    manifest = yaml.safe_load(bentos[0].read_text())
    services = {svc["name"]: svc for svc in manifest["services"]}
    if yaml.safe_load((ROOT / "params.yaml").read_text())["serve"]["model_in_front"]:  # one service holds it
        assert set(services) == {"deepfake_detector"}
        assert [m["tag"].split(":")[0] for m in services["deepfake_detector"]["models"]] == ["deepfake-detector"]
    else:
        assert [m["tag"].split(":")[0] for m in services["face_model"]["models"]] == ["deepfake-detector"]
        assert services["deepfake_detector"]["dependencies"] == [{"service": "face_model"}]
    src = bentos[0].parent / "src"
    assert (src / "serving" / "service.py").exists() and (src / "params.yaml").exists()
    assert (src / "src" / "deepfake_detect" / "scoring" / "scorer.py").exists()
    assert all(
        (src / "serving" / "ui" / f).exists() for f in ("index.html", "reviewer.js", "queue.js", "reviewer.css")
    )  # /ui
