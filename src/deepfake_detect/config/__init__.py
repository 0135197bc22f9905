"""Typed view of ``params.yaml``: the single source of truth for every knob and path.

Stage code never hard-codes a path or threshold that ``dvc.yaml`` also declares; it reads it
from here. Every field is required and none has a default here: ``params.yaml`` is the one place a
default is written. Unknown keys are errors so that a typo in ``params.yaml`` fails loudly.

The sections are typed by concern — :mod:`.data` (raw data and the data stages), :mod:`.train` (the
families, evaluate, promote), :mod:`.serve` (drift, the DAGs, serving) — on :class:`.section.Section`;
this module joins them into :class:`Params`, loads the file and re-exports every section, so callers
import from ``deepfake_detect.config`` alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from deepfake_detect.config.data import (
    BalanceParams,
    CleanParams,
    DataParams,
    ExtractParams,
    QualityParams,
    SampleParams,
    ValidateParams,
)
from deepfake_detect.config.section import Section
from deepfake_detect.config.serve import (
    UNSAFE_DEMUXERS,
    DagsParams,
    DriftParams,
    LiveParams,
    RetrainParams,
    ReviewParams,
    ServeParams,
)
from deepfake_detect.config.train import (
    AugmentParams,
    BaselineCnnParams,
    EfficientNetLiteParams,
    EnsembleParams,
    EvaluateParams,
    KerasTrainParams,
    ModelName,
    PromoteParams,
    SklearnFftParams,
    TemporalParams,
    TrainParams,
    XceptionParams,
)
from deepfake_detect.errors import DeepfakeError

PARAMS_ENV = "DEEPFAKE_PARAMS"
DEFAULT_PARAMS = Path("params.yaml")


__all__ = [
    "DEFAULT_PARAMS",
    "PARAMS_ENV",
    "UNSAFE_DEMUXERS",
    "AugmentParams",
    "BalanceParams",
    "BaselineCnnParams",
    "CleanParams",
    "ConfigError",
    "DagsParams",
    "DataParams",
    "DriftParams",
    "EfficientNetLiteParams",
    "EnsembleParams",
    "EvaluateParams",
    "ExtractParams",
    "KerasTrainParams",
    "LiveParams",
    "ModelName",
    "Params",
    "PromoteParams",
    "QualityParams",
    "RetrainParams",
    "ReviewParams",
    "SampleParams",
    "Section",
    "ServeParams",
    "SklearnFftParams",
    "TemporalParams",
    "TrainParams",
    "ValidateParams",
    "XceptionParams",
    "deep_merge",
    "load_params",
    "params_path",
]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # a misspelt section fails too
    seed: int
    data: DataParams
    sample: SampleParams
    extract: ExtractParams
    quality: QualityParams
    validate_: ValidateParams = Field(alias="validate")
    clean: CleanParams
    balance: BalanceParams
    train: TrainParams
    evaluate: EvaluateParams
    promote: PromoteParams
    drift: DriftParams
    dags: DagsParams
    retrain: RetrainParams
    serve: ServeParams
    live: LiveParams
    temporal: TemporalParams

    @model_validator(mode="after")
    def _request_log_outlives_the_drift_window(self) -> Params:
        days = self.serve.request_log_days
        if days and days < self.drift.window_days:
            raise ValueError(
                f"serve.request_log_days ({days}) must be 0 or at least drift.window_days "
                f"({self.drift.window_days}): drift reads that many days of the log"
            )
        return self


class ConfigError(DeepfakeError, ValueError):
    """params.yaml is missing, unreadable or has a wrong field (the message names it)."""


def params_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(PARAMS_ENV) or DEFAULT_PARAMS)


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, mapping by mapping (a non-mapping value replaces)."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_params(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Params:
    """Load and validate params.yaml (or ``$DEEPFAKE_PARAMS``), the one place every default is
    written: every field is required. ``overrides`` (nested like the file) are merged in first."""
    p = params_path(path)
    if not p.exists():
        raise ConfigError(f"{p}: params file not found (run from the project root or set {PARAMS_ENV})")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: top level must be a mapping of sections")
    raw = deep_merge(raw, overrides or {})
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{p}: {problems}") from exc
