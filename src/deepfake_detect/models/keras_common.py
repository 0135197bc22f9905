"""What the Keras families share: distribution strategy, the streamed fit loop with early stopping
on validation log loss, weight averaging, learning-rate schedules, training curves and saving, and the error of a
pretrained start whose weights cannot be had (:class:`WeightsUnavailable`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfake_detect.config import AugmentParams, KerasTrainParams
from deepfake_detect.contracts.model import ModelRecord
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.models.dataset import (
    CropCache,
    class_weights,
    epoch_length,
    make_dataset,
    sampled_dataset,
    steps_for,
)

log = logging.getLogger(__name__)


class WeightsUnavailable(DeepfakeError, RuntimeError):
    """Pretrained weights requested but not to be had: neither cached nor downloadable, or not the pinned
    file (the message says what to install)."""


def seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)  # python, numpy and tensorflow


def strategy(kind: str = "auto"):
    """MirroredStrategy over all GPUs when there are several (``auto``), else the default strategy."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if kind == "mirrored" or (kind == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def compile_model(model, learning_rate, label_smoothing: float, ema_momentum: float = 0.0) -> None:
    """Adam on binary cross-entropy. ``ema_momentum`` > 0 keeps an exponential moving average of the
    weights beside them (Polyak averaging): ``fit_phase`` validates, early-stops on and ends with the
    average, a flatter point of the loss that tends to hold up better on data unlike the training set."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, use_ema=ema_momentum > 0, ema_momentum=ema_momentum),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing),
        metrics=[keras.metrics.BinaryCrossentropy(name="logloss"), keras.metrics.AUC(name="auc")],
    )


def learning_rate(cfg: KerasTrainParams, lr: float, total_steps: int):
    """A float for ``constant``/``plateau`` (plateau adds a callback), a cosine decay schedule otherwise."""
    import keras

    if cfg.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(total_steps, 1), alpha=0.05)
    return lr


def epoch_steps(train: pd.DataFrame, cfg: KerasTrainParams) -> int:
    """Optimizer steps in one epoch, as ``fit_phase`` runs it (sampling and the per-epoch cap)."""
    return steps_for(epoch_length(train, cfg.sampling), cfg.batch_size, cfg.steps_per_epoch)


def fit_phase(
    model,
    train: pd.DataFrame,
    val: pd.DataFrame,
    cfg: KerasTrainParams,
    aug: AugmentParams,
    *,
    epochs: int,
    seed: int,
    phase: str,
    first_epoch: int = 0,
    cache: CropCache | None = None,
) -> list[dict[str, Any]]:
    """Fit ``epochs`` epochs (already compiled model), streamed (through the run's ``cache``); early
    stopping on val log loss restores the best weights (the moving average's, when the optimizer keeps
    one). Returns one curve row per epoch."""
    import keras

    if cfg.val_max and len(val) > cfg.val_max:  # a fixed, stratified subset: epochs stay comparable
        val = val.groupby("y", group_keys=False).sample(frac=cfg.val_max / len(val), random_state=0)
    augment = aug if cfg.augment else None
    if cfg.sampling == "as_split":
        steps = steps_for(len(train), cfg.batch_size, cfg.steps_per_epoch)
        repeat = cfg.steps_per_epoch > 0  # a capped epoch draws from an endless shuffled stream
        train_ds = make_dataset(
            train["path"].tolist(),
            train["y"].to_numpy(),
            cfg.input_size,
            cfg.batch_size,
            training=True,
            augment=augment,
            seed=seed,
            repeat=repeat,
            cache=cache,
        )
    else:  # every epoch drawn afresh (balanced or REAL/FAKE pairs) from an endless stream
        train_ds = sampled_dataset(
            train, cfg.sampling, cfg.input_size, cfg.batch_size, augment=augment, seed=seed, cache=cache
        )
        steps, repeat = epoch_steps(train, cfg), True
    # With balanced training (sampling) the raw output is calibrated to a 50/50 world; val keeps the
    # data's skew. Weighting val so each class carries half the loss makes val_logloss judge the
    # model on the world it was trained for (evaluate's calibration then maps it to the real mix);
    # unweighted, early stopping would pick the epoch whose bias suits the skew, not the best ranker.
    val_weights = None
    if cfg.sampling != "as_split":
        cw = class_weights(val["y"].to_numpy())
        val_weights = np.array([cw[int(y)] for y in val["y"]], np.float32)
    val_ds = make_dataset(
        val["path"].tolist(),
        val["y"].to_numpy(),
        cfg.input_size,
        cfg.batch_size,
        training=False,
        sample_weights=val_weights,
        cache=cache,
    )
    # The average goes into the model before validation and before EarlyStopping looks at the epoch,
    # so the epoch judged, kept and restored is the average's (Keras swaps the raw weights back to train on).
    averaged = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if model.optimizer.use_ema else []
    callbacks = [
        *averaged,
        keras.callbacks.EarlyStopping(
            monitor=f"val_{cfg.early_stopping_on}",
            mode="min" if cfg.early_stopping_on == "logloss" else "max",
            patience=cfg.patience,
            restore_best_weights=True,
        ),
    ]
    if cfg.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_logloss", factor=0.3, patience=1))
    weights = class_weights(train["y"].to_numpy()) if cfg.class_weight and cfg.sampling == "as_split" else None
    start = time.perf_counter()
    hist = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=epochs,
        steps_per_epoch=steps if repeat else None,
        class_weight=weights,
        callbacks=callbacks,
        verbose=2,
    )
    seconds = time.perf_counter() - start
    rows = []
    for i in range(len(hist.history["loss"])):
        row = {"epoch": first_epoch + i + 1, "phase": phase}
        row.update({k: float(v[i]) for k, v in hist.history.items() if k != "learning_rate"})
        rows.append(row)
    log.info("%s: %d epoch(s) of %d step(s) in %.1f s", phase, len(rows), steps, seconds)
    return rows


def save_keras(model, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    return "model.keras"


def save_trained(
    model,
    out: Path,
    curves: Path,
    rows: list[dict],
    *,
    name: str,
    cfg: KerasTrainParams,
    seconds: float,
    n_train: int,
    n_val: int,
    extra: dict[str, Any] | None = None,
) -> ModelRecord:
    """Every Keras family ends the same way: the model, its training curves and its record.json."""
    from deepfake_detect.models.artifacts import write_curves, write_record

    artifact = save_keras(model, out)
    write_curves(rows, curves)
    return write_record(
        out,
        name=name,
        family="keras",
        artifact=artifact,
        input_size=cfg.input_size,
        embedding_layer="pooled",
        test_time_flip=cfg.test_time_flip,
        params=cfg.model_dump(),
        train_seconds=round(seconds, 1),
        n_train=n_train,
        n_val=n_val,
        **(extra or {}),
    )
