"""The calibration map a model's scores pass through (fitted by evaluate, stored in ``record.json`` and the
metrics), with its prior-shift correction to a deployment's base rate."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from deepfake_detect.contracts.base import ContractError

CalibrationMethod = Literal["none", "temperature", "platt", "isotonic"]


EPS = 1e-6


class Calibration(BaseModel):
    """A fitted calibration map (the contract stored in ``record.json`` and the metrics)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    method: CalibrationMethod
    slope: float = Field(1.0, description="a of σ(a·logit(p)+b); 1/T for temperature scaling")
    bias: float = 0.0
    x: list[float] = Field(default_factory=list, description="isotonic knots: raw probabilities")
    y: list[float] = Field(default_factory=list, description="isotonic knots: calibrated probabilities")
    n_fit: int = Field(0, description="validation crops the map was fitted on")
    base_rate: float | None = Field(
        None, gt=0, lt=1, description="share of FAKE in the crops it was fitted on (None: fitted before it was kept)"
    )
    deploy_rate: float | None = Field(
        None, gt=0, lt=1, description="share of FAKE expected where it is used (None: the base rate, no shift)"
    )

    @property
    def shift(self) -> float:
        """logit(deploy_rate) − logit(base_rate): the prior-shift correction added to the calibrated
        logit (Bayes: the likelihood ratio stays, the prior odds change); 0 without a deploy rate."""
        if self.deploy_rate is None or self.base_rate is None:
            return 0.0
        return float(logit(np.array(self.deploy_rate)) - logit(np.array(self.base_rate)))

    def at_prior(self, prior_fake: float | None) -> Calibration:
        """This map shifted to a deployment where ``prior_fake`` of the faces are FAKE (None: unshifted)."""
        if prior_fake is not None and self.base_rate is None:
            raise ContractError(
                "a prior_fake was set but this calibration records no base rate (fitted before it was "
                "recorded): re-run `deepfake evaluate` and `deepfake promote`, or set no prior"
            )
        return self.model_copy(update={"deploy_rate": prior_fake})

    def shift_threshold(self, threshold: float) -> float:
        """The threshold at the deployment's prior that makes the decisions the unshifted one makes (the
        shift is monotone: the same face is FAKE at the same calibrated odds ratio)."""
        if self.shift == 0.0:
            return threshold
        return float(1.0 / (1.0 + np.exp(-(logit(np.array(threshold)) + self.shift))))

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw ones (float32, same shape), at ``deploy_rate`` when set."""
        p = np.asarray(p, np.float64)
        if p.size == 0:
            return p.astype(np.float32)
        if self.method == "none":
            q = p
        elif self.method == "isotonic":
            q = np.interp(p, self.x, self.y)
        else:
            q = 1.0 / (1.0 + np.exp(-(self.slope * logit(p) + self.bias)))
        if self.shift:
            q = 1.0 / (1.0 + np.exp(-(logit(q) + self.shift)))
        return q.astype(np.float32)


IDENTITY = Calibration(method="none")


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)
