"""Xception transfer learning (the seed's main model, after the DFDC literature):
``keras.applications.Xception(include_top=False)`` → ``pooled`` (global average) → dropout →
sigmoid. Phase 1 trains the head on a frozen base; phase 2 unfreezes the base from layer
``unfreeze_from`` (the seed used 56) at a lower learning rate. Batch norm stays in inference mode
so ImageNet statistics survive fine-tuning.

With ``pretrained: none`` there is nothing worth freezing: a frozen, randomly initialised base in
inference mode gives near-constant features (measured: AUC 0.500 on every epoch). So phase 1 then
trains the whole network with batch norm learning its statistics, and phase 2 continues from
``unfreeze_from`` at the lower rate.

``pretrained: imagenet`` needs Keras' ImageNet weights file; without network access and without
the file in the Keras cache this stops with a message saying where to put it. ``pretrained: auto``
(the default) uses them when they are there and trains from scratch otherwise; ``record.json``'s
``pretrained`` says which happened.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import pandas as pd

from deepfake_detect.config import AugmentParams, XceptionParams
from deepfake_detect.contracts.model import ModelRecord
from deepfake_detect.models.dataset import CropCache
from deepfake_detect.models.keras_common import (
    WeightsUnavailable,
    compile_model,
    epoch_steps,
    fit_phase,
    learning_rate,
    save_trained,
    seed_everything,
    strategy,
)

log = logging.getLogger(__name__)

WEIGHTS_FILE = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/xception/" + WEIGHTS_FILE


def weights_cache() -> Path:
    base = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return base / "models" / WEIGHTS_FILE


def resolve_weights(pretrained: str, timeout: float = 5.0) -> str | None:
    """``None`` for ``none``; the cached file path or ``imagenet`` (Keras downloads) when reachable.
    ``auto`` is ``imagenet`` when the weights can be had and ``none`` (with a warning) when not."""
    if pretrained == "none":
        return None
    if pretrained == "auto":
        try:
            return resolve_weights("imagenet", timeout)
        except WeightsUnavailable as exc:
            log.warning("xception: training without ImageNet weights (train.xception.pretrained=auto): %s", exc)
            return None
    cached = weights_cache()
    if cached.is_file():
        return str(cached)
    try:
        socket.create_connection(("storage.googleapis.com", 443), timeout=timeout).close()
    except OSError as exc:
        raise WeightsUnavailable(
            f"train.xception.pretrained=imagenet, but {WEIGHTS_FILE} is not in the Keras cache ({cached}) and "
            f"storage.googleapis.com is unreachable ({exc}). Download {WEIGHTS_URL} on a machine with network, "
            f"copy it to {cached}, or set train.xception.pretrained: none (e.g. `dvc exp run -S "
            f"train.xception.pretrained=none`)."
        ) from exc
    return "imagenet"


def build(cfg: XceptionParams, weights: str | None):
    """The model and its Xception base (so the phases can freeze and unfreeze it); ``weights`` as
    :func:`resolve_weights` gives them."""
    import keras
    from keras import layers

    size = cfg.input_size
    base = keras.applications.Xception(include_top=False, weights=weights, input_shape=(size, size, 3))
    inp = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(inp)  # = xception.preprocess_input
    x = base(x, training=False) if weights is not None else base(x)
    x = layers.GlobalAveragePooling2D(name="pooled")(x)
    x = layers.Dropout(cfg.dropout)(x)
    out = layers.Dense(1, activation="sigmoid", name="p_fake")(x)
    return keras.Model(inp, out, name="xception"), base


def train(
    train: pd.DataFrame,
    val: pd.DataFrame,
    cfg: XceptionParams,
    aug: AugmentParams,
    out: Path,
    curves: Path,
    *,
    seed: int,
    distribute: str = "auto",
    cache_mb: int = 0,
) -> tuple[Any, ModelRecord]:
    """Two-phase training; saves ``model.keras`` + ``record.json`` into ``out``, curves into ``curves``;
    up to ``cache_mb`` of decoded crops serve both phases (:class:`.dataset.CropCache`)."""
    seed_everything(seed)
    start = time.perf_counter()
    steps = epoch_steps(train, cfg)
    weights = resolve_weights(cfg.pretrained)
    pretrained = "none" if weights is None else "imagenet"
    with strategy(distribute).scope():
        model, base = build(cfg, weights)
        base.trainable = weights is None  # random features: train them, do not freeze them
        lr = learning_rate(cfg, cfg.learning_rate, cfg.epochs * steps)
        last_phase = not cfg.fine_tune_epochs  # only the last phase averages its weights
        compile_model(model, lr, cfg.label_smoothing, cfg.ema_momentum if last_phase else 0.0)
    phase1 = "frozen" if weights is not None else "from_scratch"
    cache = CropCache(cfg.input_size, cache_mb)
    rows = fit_phase(model, train, val, cfg, aug, epochs=cfg.epochs, seed=seed, phase=phase1, cache=cache)
    if cfg.fine_tune_epochs:
        if cfg.unfreeze_from >= len(base.layers):
            raise ValueError(
                f"train.xception.unfreeze_from={cfg.unfreeze_from}: the base has only {len(base.layers)} layers"
            )
        with strategy(distribute).scope():
            base.trainable = True
            for layer in base.layers[: cfg.unfreeze_from]:
                layer.trainable = False
            lr = learning_rate(cfg, cfg.fine_tune_learning_rate, cfg.fine_tune_epochs * steps)
            compile_model(model, lr, cfg.label_smoothing, cfg.ema_momentum)
        rows += fit_phase(
            model,
            train,
            val,
            cfg,
            aug,
            epochs=cfg.fine_tune_epochs,
            seed=seed + 1,
            phase="fine_tune",
            first_epoch=len(rows),
            cache=cache,
        )
    record = save_trained(
        model,
        out,
        curves,
        rows,
        name="xception",
        cfg=cfg,
        seconds=time.perf_counter() - start,
        n_train=len(train),
        n_val=len(val),
        extra={"pretrained": pretrained},
    )
    return model, record
