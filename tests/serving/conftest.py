"""Fixtures for the serving tests (helpers live in serving_kit.py, importable from every test file)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the serving/ package

from serving_kit import build_model_folder, save_to_store


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return build_model_folder(tmp_path_factory.mktemp("model") / "promoted")


@pytest.fixture(scope="session")
def bentoml_home(tmp_path_factory, model_dir, use_bentoml_home) -> Path:
    """A temporary BentoML home holding the tiny model as deepfake-detector:latest."""
    home = tmp_path_factory.mktemp("bentoml_home")
    use_bentoml_home(home)  # this process and the `bentoml serve` / `build` subprocesses
    save_to_store(model_dir)
    return home


@pytest.fixture(scope="session")
def face_model(model_dir):
    from deepfake_detect.models.predictor import load_predictor

    return load_predictor(model_dir)
