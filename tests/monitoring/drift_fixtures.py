"""Helpers for the monitoring tests: a tiny Keras model that follows the model-folder contract,
synthetic face crops, degradations. (Imported by conftest.py and the tests; unique module name.)"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from deepfake_detect.models.artifacts import save_untrained_keras

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# real data beside the checkout (../shared/data), or wherever DEEPFAKE_SHARED_DATA points
SHARED = Path(os.environ.get("DEEPFAKE_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
FACES = SHARED / "deepfake-faces"


def make_tiny_model(folder: Path, input_size: int = 32, seed: int = 0) -> Path:
    """A small CNN (preprocessing inside, a ``pooled`` layer, sigmoid P(FAKE)) saved as a model folder."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((input_size, input_size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pooled")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    return save_untrained_keras(model, folder, name="tiny_cnn", tag="tiny_cnn:test", input_size=input_size)


def synthetic_crops(n: int, seed: int, size: int = 64) -> list[np.ndarray]:
    """Face-like crops: jittered windows of scikit-image's astronaut portrait with lighting noise."""
    from skimage import data as skdata

    rng = np.random.default_rng(seed)
    photo = skdata.astronaut()
    crops = []
    for _ in range(n):
        x, y = rng.integers(120, 200), rng.integers(0, 60)
        side = int(rng.integers(110, 160))
        crop = photo[y : y + side, x : x + side].astype(np.float32)
        crop = crop * rng.uniform(0.8, 1.2) + rng.normal(0, 6, crop.shape)
        crops.append(cv2.resize(np.clip(crop, 0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA))
    return crops


def degrade(crop: np.ndarray, blur: float = 2.5, quality: int = 8) -> np.ndarray:
    """Heavy blur and JPEG recompression: what a re-uploaded, re-encoded clip looks like."""
    out = cv2.GaussianBlur(crop, (0, 0), blur)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def write_crops(crops: list[np.ndarray], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, c in enumerate(crops):
        path = folder / f"crop_{i:04d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(c, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths
