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

from deepfake_detect.contracts.calibration import EPS, Calibration, CalibrationMethod, logit


def _nll(z: np.ndarray, y: np.ndarray) -> float:
    # mean binary cross-entropy of logits z, computed stably: log(1 + e^z) - y·z
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_calibration(y: np.ndarray, p: np.ndarray, method: CalibrationMethod) -> Calibration:
    """Fit ``method`` on labels ``y`` (FAKE = 1) and raw probabilities ``p`` by minimising log loss;
    the map records the FAKE share of ``y`` as its ``base_rate`` (what :meth:`Calibration.at_prior`
    shifts from)."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    fitted = _fit(y, p, method)
    rate = float(y.mean()) if 0 < y.mean() < 1 else None
    return fitted.model_copy(update={"n_fit": len(y), "base_rate": rate})


def _fit(y: np.ndarray, p: np.ndarray, method: CalibrationMethod) -> Calibration:
    if method == "none":
        return Calibration(method="none")
    if len(np.unique(y)) < 2:
        raise ValueError(f"calibration ({method}) needs REAL and FAKE validation crops, got {len(y)} of one class")
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip").fit(p, y)
        return Calibration(method="isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist())
    z = logit(p)
    if method == "temperature":
        res = minimize(lambda a: _nll(a[0] * z, y), x0=[1.0], method="L-BFGS-B", bounds=[(1e-3, 100.0)])
        return Calibration(method="temperature", slope=float(res.x[0]))
    res = minimize(
        lambda ab: _nll(ab[0] * z + ab[1], y), x0=[1.0, 0.0], method="L-BFGS-B", bounds=[(1e-3, 100.0), (-20.0, 20.0)]
    )
    return Calibration(method="platt", slope=float(res.x[0]), bias=float(res.x[1]))


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, bins: int = 15, weights: np.ndarray | None = None
) -> float:
    """ECE: the |accuracy − confidence| gap of P(FAKE) per equal-width bin, weighted by bin size
    (by the bin's share of ``weights`` when given, e.g. class weights of a balanced view)."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    w = np.ones_like(y) if weights is None else np.asarray(weights, np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    gap = 0.0
    for b in range(bins):
        inside = (which == b) & (w > 0)
        if inside.any():
            wb = w[inside]
            gap += wb.sum() * abs(np.average(y[inside], weights=wb) - np.average(p[inside], weights=wb))
    return float(gap / max(w.sum(), 1e-12))


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Row weights giving each class half the total (a class-balanced view of a skewed set)."""
    y = np.asarray(y).astype(int)
    n_fake = max(int(y.sum()), 1)
    n_real = max(len(y) - int(y.sum()), 1)
    return np.where(y == 1, 0.5 / n_fake, 0.5 / n_real) * len(y)


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
