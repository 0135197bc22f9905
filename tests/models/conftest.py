"""Fixtures for the model tests: a tiny split manifest of real image files written with cv2.

FAKE crops carry a blended high-frequency patch (a stand-in for blending traces), so a model can
learn the task in a few steps; groups never straddle splits, as the balance stage guarantees."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from deepfake_detect.config import Params, load_params
from deepfake_detect.data.manifest import MANIFEST_COLUMNS, ManifestRow

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"  # the one place defaults are written

SIDE = 48
SPLIT_OF_GROUP = ["train"] * 6 + ["val"] * 3 + ["test"] * 3


def face_crop(rng: np.random.Generator, fake: bool, side: int = SIDE) -> np.ndarray:
    """A face-like ellipse on a noisy background; FAKE adds a checkerboard patch blended in."""
    img = np.full((side, side, 3), rng.integers(30, 90), np.uint8)
    colour = tuple(int(c) for c in rng.integers(120, 220, 3))
    cv2.ellipse(img, (side // 2, side // 2), (side // 3, side // 2 - 4), 0, 0, 360, colour, -1)
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    if fake:
        yy, xx = np.indices((side // 2, side // 2))
        pattern = ((yy + xx) % 2 * 90).astype(np.float64)[..., None]
        s = side // 4
        patch = img[s : s + side // 2, s : s + side // 2].astype(np.float64)
        img[s : s + side // 2, s : s + side // 2] = np.clip(0.5 * patch + pattern, 0, 255).astype(np.uint8)
    return img


def write_split(
    root: Path, n_groups: int = 12, per_video: int = 4, seed: int = 0, split_of_group: list[str] | None = None
) -> Path:
    """Write crops + a split manifest (columns of the contract + split); returns the manifest path."""
    rng = np.random.default_rng(seed)
    splits = split_of_group or SPLIT_OF_GROUP
    rows = []
    (root / "crops").mkdir(parents=True, exist_ok=True)
    for g in range(n_groups):
        group = f"real{g:02d}.mp4"
        for label, video in (("REAL", group), ("FAKE", f"fake{g:02d}.mp4")):
            for f in range(per_video):
                crop_id = f"{Path(video).stem}_f{f}_0"
                path = root / "crops" / f"{crop_id}.png"
                cv2.imwrite(str(path), cv2.cvtColor(face_crop(rng, label == "FAKE"), cv2.COLOR_RGB2BGR))
                row = ManifestRow(
                    crop_id=crop_id,
                    path=str(path),
                    video=video,
                    part=".",
                    frame=f,
                    person=0,
                    x=0,
                    y=0,
                    w=SIDE,
                    h=SIDE,
                    confidence=0.99,
                    label=label,
                    group=group,
                    dataset="dfdc",
                    source="dfdc_videos",
                )
                rows.append({**row.model_dump(), "split": splits[g % len(splits)]})
    manifest = root / "split" / "manifest.csv"
    manifest.parent.mkdir(parents=True)
    pd.DataFrame(rows)[[*MANIFEST_COLUMNS, "split"]].to_csv(manifest, index=False)
    return manifest


def tiny_params(root: Path, manifest: Path, **train_overrides) -> Params:
    """Params pointing every model path into ``root``, with tiny, fast model settings."""
    raw = {
        "seed": 7,
        "balance": {"manifest": str(manifest)},
        "train": {
            "models_dir": str(root / "models" / "trained"),
            "curves_dir": str(root / "plots" / "train"),
            "models": ["sklearn_fft"],
            "baseline_cnn": {"input_size": 32, "batch_size": 8, "epochs": 2, "steps_per_epoch": 3},
            "xception": {
                "pretrained": "none",  # hermetic: no 80 MB download where the network is open
                "input_size": 71,
                "batch_size": 4,
                "epochs": 1,
                "fine_tune_epochs": 1,
                "steps_per_epoch": 2,
                "unfreeze_from": 120,
            },
            **{
                f"efficientnet_lite{n}": {
                    "input_size": 32,
                    "batch_size": 4,
                    "warmup_epochs": 1,
                    "epochs": 1,
                    "steps_per_epoch": 2,
                }
                for n in (0, 1, 2)
            },
            "sklearn_fft": {"classifier": "logreg"},
            **train_overrides,
        },
        "evaluate": {
            "metrics_dir": str(root / "metrics"),
            "plots_dir": str(root / "plots" / "eval"),
            "comparison": str(root / "reports" / "comparison.md"),
        },
        "promote": {
            "dir": str(root / "models" / "promoted"),
            "releases_dir": str(root / "models" / "releases"),
            "decision": str(root / "reports" / "promotion.json"),
            "embedding_components": 4,
            "embedding_samples": 32,
        },
    }
    return load_params(REPO_PARAMS, raw)


@pytest.fixture
def split_manifest(tmp_path: Path) -> Path:
    return write_split(tmp_path)


@pytest.fixture
def bento_home(tmp_path: Path, use_bentoml_home) -> Path:
    """A private BentoML store for the test."""
    home = tmp_path / "bentoml"
    use_bentoml_home(home)
    return home


@pytest.fixture
def make_params():
    """Factory: ``make_params(root, manifest, **train_overrides)`` → tiny Params (see :func:`tiny_params`)."""
    return tiny_params


@pytest.fixture
def make_split():
    """Factory: ``make_split(root, **kwargs)`` → a split manifest (see :func:`write_split`)."""
    return write_split


@pytest.fixture
def uninformed_model():
    """``uninformed_model(p)``: replace the trained sklearn model by a real but uninformed pipeline
    (the class prior for every crop): AUC 0.5 on any split."""
    import joblib
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    def replace(p: Params) -> None:
        folder = p.train.models_dir / "sklearn_fft"
        model = joblib.load(folder / "model.joblib")
        x = np.zeros((4, model.named_steps["scale"].n_features_in_))
        joblib.dump(
            Pipeline([("clf", DummyClassifier(strategy="prior"))]).fit(x, [0, 1, 1, 0]), folder / "model.joblib"
        )

    return replace


@pytest.fixture
def make_crop():
    """``make_crop(rng, fake)``: one face crop like those of :func:`write_split` (see :func:`face_crop`)."""
    return face_crop
