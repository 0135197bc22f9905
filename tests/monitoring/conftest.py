"""Fixtures for the monitoring tests (helpers live in drift_fixtures.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drift_fixtures import FACES, make_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="session")
def predictor(tiny_model_dir):
    from deepfake_detect.models.predictor import load_predictor

    return load_predictor(tiny_model_dir)


@pytest.fixture(scope="session")
def real_faces() -> pd.DataFrame:
    """metadata.csv of ../shared/data/deepfake-faces with an absolute ``path`` column."""
    if not (FACES / "metadata.csv").exists():
        pytest.skip(f"{FACES} not present (real deepfake-faces crops)")
    meta = pd.read_csv(FACES / "metadata.csv")
    meta["path"] = [str(FACES / "faces_224" / (Path(v).stem + ".jpg")) for v in meta["videoname"]]
    return meta[[Path(p).exists() for p in meta["path"]]].reset_index(drop=True)
