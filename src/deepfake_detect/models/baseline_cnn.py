"""The seed notebook's simple CNN, kept as the reference every other model must beat.

Three conv + max-pool blocks, a dense layer with dropout and a sigmoid output, Adam, binary
cross-entropy. One change from the seed: ``Flatten`` became ``GlobalAveragePooling2D`` named
``pooled``, so the model exposes an embedding (drift monitoring) like the other Keras models.
Rescaling to 0..1 lives inside the model, so it takes RGB 0..255 like every model folder.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from deepfake_detect.config import AugmentParams, BaselineCnnParams
from deepfake_detect.contracts.model import ModelRecord
from deepfake_detect.models.dataset import CropCache
from deepfake_detect.models.keras_common import (
    compile_model,
    epoch_steps,
    fit_phase,
    learning_rate,
    save_trained,
    seed_everything,
    strategy,
)

log = logging.getLogger(__name__)


def build(input_size: int):
    import keras
    from keras import layers

    inp = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1 / 255.0, name="preprocess")(inp)
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D(name="pooled")(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(1, activation="sigmoid", name="p_fake")(x)
    return keras.Model(inp, out, name="baseline_cnn")


def train(
    train: pd.DataFrame,
    val: pd.DataFrame,
    cfg: BaselineCnnParams,
    aug: AugmentParams,
    out: Path,
    curves: Path,
    *,
    seed: int,
    distribute: str = "auto",
    cache_mb: int = 0,
) -> tuple[Any, ModelRecord]:
    """Train, save ``model.keras`` + ``record.json`` into ``out``, training curves into ``curves``;
    up to ``cache_mb`` of decoded crops are kept for later epochs (:class:`.dataset.CropCache`)."""
    seed_everything(seed)
    start = time.perf_counter()
    with strategy(distribute).scope():
        model = build(cfg.input_size)
        total = cfg.epochs * epoch_steps(train, cfg)
        compile_model(model, learning_rate(cfg, cfg.learning_rate, total), cfg.label_smoothing, cfg.ema_momentum)
    cache = CropCache(cfg.input_size, cache_mb)
    rows = fit_phase(model, train, val, cfg, aug, epochs=cfg.epochs, seed=seed, phase="train", cache=cache)
    record = save_trained(
        model,
        out,
        curves,
        rows,
        name="baseline_cnn",
        cfg=cfg,
        seconds=time.perf_counter() - start,
        n_train=len(train),
        n_val=len(val),
    )
    return model, record
