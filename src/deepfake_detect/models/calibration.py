"""Calibrated probabilities: a map from a model's raw P(FAKE) to a probability that means what it
says, fitted on the validation split and stored with the model (``record.json`` → ``calibration``).

Why: a network trained on balanced batches, with label smoothing and early stopping, ranks faces
well but its scores are not frequencies: trained 50/50 and served on DFDC's ~83% FAKE, its 0.5 is
not "even odds". Calibration is monotone, so AUC is unchanged; log loss and the expected
calibration error (ECE) improve, and a threshold means a stated false-positive rate.

Methods (``evaluate.calibration``):
  ``temperature``  p' = σ(logit(p) / T), one parameter (Guo et al. 2017)
  ``platt``        p' = σ(a · logit(p) + b), temperature plus a bias that absorbs the class prior
                   of the data it is fitted on (Platt 1999)
  ``isotonic``     a monotone step function (scikit-learn), most flexible, needs more data
  ``none``         identity
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from deepfake_detect.contracts import EPS, Calibration, CalibrationMethod, logit


def _nll(z: np.ndarray, y: np.ndarray) -> float:
    # mean binary cross-entropy of logits z, computed stably: log(1 + e^z) - y·z
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_calibration(y: np.ndarray, p: np.ndarray, method: CalibrationMethod) -> Calibration:
    """Fit ``method`` on labels ``y`` (FAKE = 1) and raw probabilities ``p`` by minimising log loss."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    if method == "none":
        return Calibration(method="none", n_fit=len(y))
    if len(np.unique(y)) < 2:
        raise ValueError(f"calibration ({method}) needs REAL and FAKE validation crops, got {len(y)} of one class")
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip").fit(p, y)
        return Calibration(method="isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist(), n_fit=len(y))
    z = logit(p)
    if method == "temperature":
        res = minimize(lambda a: _nll(a[0] * z, y), x0=[1.0], method="L-BFGS-B", bounds=[(1e-3, 100.0)])
        return Calibration(method="temperature", slope=float(res.x[0]), n_fit=len(y))
    res = minimize(
        lambda ab: _nll(ab[0] * z + ab[1], y), x0=[1.0, 0.0], method="L-BFGS-B", bounds=[(1e-3, 100.0), (-20.0, 20.0)]
    )
    return Calibration(method="platt", slope=float(res.x[0]), bias=float(res.x[1]), n_fit=len(y))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """ECE: the |accuracy − confidence| gap of P(FAKE) per equal-width bin, weighted by bin size."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    gap = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            gap += inside.sum() * abs(y[inside].mean() - p[inside].mean())
    return float(gap / max(len(y), 1))


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = 15) -> list[dict[str, float]]:
    """Per non-empty bin: mean predicted P(FAKE), observed FAKE share and count (a reliability diagram)."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "mean_predicted": float(p[inside].mean()),
                    "fraction_fake": float(y[inside].mean()),
                    "count": int(inside.sum()),
                }
            )
    return rows
