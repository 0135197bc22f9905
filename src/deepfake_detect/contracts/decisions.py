"""The decisions the release path takes and prints: the retrain gate, promotion, rollback."""

from __future__ import annotations

from typing import Literal

from deepfake_detect.contracts.base import Contract


class GateDecision(Contract):
    """The evaluation gate: the model promote would pick, and whether it reaches ``retrain.gate_min``."""

    model: str
    candidates: list[str]
    metric: str
    level: Literal["frame", "video"]
    value: float
    minimum: float
    lower_is_better: bool
    passed: bool


class PromotionDecision(Contract):
    """What promote decided: the best candidate against the served model, on the same test split."""

    metric: str
    level: Literal["frame", "video"]
    candidate: str
    candidate_score: float
    current: str | None  # the served release (None when nothing was served or it could not load)
    current_score: float | None
    promoted: bool
    reason: str
    tag: str | None = None  # the new release (None when not promoted)
    bento_tag: str | None = None  # its BentoML store tag (None when not promoted)
    shadow_report: str | None = None  # the shadow report it wrote (promote.shadow report | gate), else None


class RollbackResult(Contract):
    rolled_back_from: str | None
    serving: str
    bento_tag: str
