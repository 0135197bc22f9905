"""How an ensemble's members make one model (the ``ensemble`` family, :mod:`.ensemble` says why): one
score from theirs, one record from theirs. Evaluate combines the scores it has computed; the
:class:`deepfake_detect.models.predictor.EnsemblePredictor` combines them when it serves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepfake_detect.contracts.calibration import logit
from deepfake_detect.contracts.model import ModelRecord


def mean_logit(probs: Sequence[np.ndarray]) -> np.ndarray:
    """σ of the mean logit of each row across members: ``probs`` is one (N,) array of calibrated
    P(FAKE) per member."""
    if not probs:
        raise ValueError("an ensemble needs at least one member's scores")
    z = np.mean([logit(p) for p in probs], axis=0)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def ensemble_record(record: ModelRecord, members: Sequence[ModelRecord]) -> ModelRecord:
    """The ensemble's record with the facts its members decide: crops at the largest member input size
    (each member resizes them to its own), training time added up (the ensemble's own is nil),
    the members' training and validation sizes. Idempotent: a release's record loads unchanged."""
    return record.model_copy(
        update={
            "input_size": max(m.input_size for m in members),
            "train_seconds": round(sum(m.train_seconds for m in members), 1),
            "n_train": max(m.n_train for m in members),
            "n_val": max(m.n_val for m in members),
        }
    )
