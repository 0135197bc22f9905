"""The fast classical baseline: hand-made features (:mod:`.features`) → standard scaling →
logistic regression or histogram gradient boosting. Needs no GPU and trains in seconds."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from deepfake_detect.config import SklearnFftParams
from deepfake_detect.contracts.model import ModelRecord
from deepfake_detect.media.images import read_rgb
from deepfake_detect.models.artifacts import write_curves, write_record
from deepfake_detect.models.features import FEATURE_SIDE, crop_features

log = logging.getLogger(__name__)
CHUNK = 64


def features_of(paths: list[str], desc: str = "features") -> np.ndarray:
    """Features of image files, read in chunks (only the small feature matrix stays in memory)."""
    out = []
    for start in tqdm(range(0, len(paths), CHUNK), desc=desc, unit="chunk", leave=False):
        out.append(crop_features([read_rgb(p) for p in paths[start : start + CHUNK]]))
    return np.concatenate(out) if out else np.zeros((0, 0))


def build(cfg: SklearnFftParams, seed: int) -> Pipeline:
    weight = "balanced" if cfg.class_weight else None
    if cfg.classifier == "logreg":
        clf = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter, class_weight=weight, random_state=seed)
    else:
        clf = HistGradientBoostingClassifier(
            max_iter=cfg.n_estimators, class_weight=weight, random_state=seed, early_stopping=False
        )
    return Pipeline([("scale", StandardScaler()), ("clf", clf)])


def train(
    train: pd.DataFrame, val: pd.DataFrame, cfg: SklearnFftParams, out: Path, curves: Path, *, seed: int
) -> tuple[Pipeline, ModelRecord]:
    """Fit on (capped) training crops, save ``model.joblib`` + ``record.json``; curve = one row."""
    start = time.perf_counter()
    if cfg.max_train and len(train) > cfg.max_train:
        train = train.sample(cfg.max_train, random_state=seed)
    x_train = features_of(train["path"].tolist(), "train features")
    x_val = features_of(val["path"].tolist(), "val features")
    model = build(cfg, seed).fit(x_train, train["y"].to_numpy())
    seconds = time.perf_counter() - start
    row = {
        "epoch": 1,
        "phase": "fit",
        "loss": float(log_loss(train["y"], model.predict_proba(x_train)[:, 1], labels=[0, 1])),
        "val_logloss": float(log_loss(val["y"], model.predict_proba(x_val)[:, 1], labels=[0, 1])),
    }
    log.info(
        "sklearn_fft (%s): %d features, train log loss %.3f, val log loss %.3f, %.1f s",
        cfg.classifier,
        x_train.shape[1],
        row["loss"],
        row["val_logloss"],
        seconds,
    )
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    write_curves([row], curves)
    record = write_record(
        out,
        name="sklearn_fft",
        family="sklearn",
        artifact="model.joblib",
        input_size=FEATURE_SIDE,
        params=cfg.model_dump(),
        train_seconds=round(seconds, 1),
        n_train=len(train),
        n_val=len(val),
        n_features=int(x_train.shape[1]),
    )
    return model, record
