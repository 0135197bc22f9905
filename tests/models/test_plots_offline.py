"""`dvc plots show` renders evaluate's ROC, PR, calibration and confusion plots offline: the repo's
.dvc/config points it at .dvc/plots/offline.html (vega, vega-lite, vega-embed inlined), so the page
loads nothing from a CDN; checked in headless Chromium on the page DVC writes from real plot data."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from deepfake_detect.pipeline.evaluate import write_plots

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
MODELS = ("sklearn_fft", "efficientnet_lite0")
PLOTS = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["evaluate"]["plots"]  # a folder per kind


def _project(root: Path) -> Path:
    """A git + DVC project with the repo's .dvc config and template and evaluate's plot definitions."""
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=root, check=True)
    shutil.copy(REPO / ".dvc" / "config", root / ".dvc" / "config")
    shutil.copytree(REPO / ".dvc" / "plots", root / ".dvc" / "plots")
    defs = []
    for entry in PLOTS:
        for key, props in entry.items():
            props.pop("cache", None)  # a top-level plot has no cache flag
            defs.append({key.replace("${evaluate.plots_dir}", "plots/eval"): props})
    (root / "dvc.yaml").write_text(yaml.safe_dump({"plots": defs}))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.35 * y + rng.uniform(0, 0.65, 300), 0, 1)
    for model in MODELS:
        write_plots(model, y, p, 0.5, root / "plots" / "eval", 10)
    return root


def test_dvc_plots_show_renders_every_evaluate_plot_offline(tmp_path, chromium):
    root = _project(tmp_path / "proj")
    subprocess.run(["dvc", "plots", "show", "-q", "-o", "out"], cwd=root, check=True)
    html = (root / "out" / "index.html").read_text()
    assert not re.findall(r"<script[^>]+src=", html), "a script is loaded from elsewhere"
    assert "cdn.jsdelivr.net" not in html
    assert html.count("vegaEmbed(") == len(PLOTS) * len(MODELS)  # a plot per kind and model

    chromium.get((root / "out" / "index.html").as_uri())
    drawn = "return document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length"
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(chromium, 60).until(lambda d: d.execute_script(drawn) >= len(PLOTS) * len(MODELS))
    errors = chromium.execute_script("return document.querySelectorAll('.vega-embed .error').length")
    assert errors == 0
