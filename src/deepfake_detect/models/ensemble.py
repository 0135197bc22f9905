"""The ``ensemble`` family: one model made of several trained families (``train.ensemble.members``).

Combination: the mean of the members' *calibrated* logits, σ(mean_i logit(p_i)), then the ensemble's
own calibration, threshold and ECE fitted on val by evaluate like any family's. Why the mean rather
than a logistic regression stacked on val: calibrating each member first (evaluate's map, fitted on
val) already puts a scikit-learn probability and a network's sigmoid on one scale, so the mean adds
no parameter; a stack would fit its weights, then the calibration and the threshold, on the same
few val videos, and choose them optimistically. A member that is sure (|logit| large) still counts
for more than one that is not, unlike a mean of probabilities.

Training fits nothing: the ensemble's model folder is its ``record.json`` naming the members (DVC
runs ``train@ensemble`` beside them, not after them, so it must not read them). Evaluate combines
the members' val and test scores it has already computed (no second inference); promote copies the
members, each with the calibration evaluate fitted, into the release (``contracts.model.MEMBERS_DIR``), the
strongest first (:class:`deepfake_detect.models.predictor.EnsemblePredictor` serves it)."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from deepfake_detect.config import EnsembleParams
from deepfake_detect.contracts.model import MEMBERS_DIR, ModelRecord
from deepfake_detect.models.artifacts import write_curves, write_record


def train(train: pd.DataFrame, val: pd.DataFrame, cfg: EnsembleParams, out: Path, curves: Path) -> ModelRecord:
    """Write the ensemble's ``record.json`` (its members, in ``cfg`` order) and an empty curves file."""
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    write_curves([], curves, columns=["epoch", "val_logloss"])
    return write_record(
        out,
        name="ensemble",
        family="ensemble",
        artifact=MEMBERS_DIR,
        input_size=0,  # the members' largest, filled in when the members load (combine.ensemble_record)
        params=cfg.model_dump(),
        train_seconds=round(time.perf_counter() - start, 1),
        n_train=len(train),
        n_val=len(val),
        members=list(cfg.members),
    )
