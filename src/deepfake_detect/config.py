"""Typed view of ``params.yaml``: the single source of truth for every knob and path.

Stage code never hard-codes a path or threshold that ``dvc.yaml`` also declares; it reads it
from here. Unknown keys are errors so that a typo in ``params.yaml`` fails loudly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PARAMS_ENV = "DEEPFAKE_PARAMS"
DEFAULT_PARAMS = Path("params.yaml")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(Section):
    raw_dir: Path = Path("data/raw")
    layout: Literal["auto", "dfdc_videos", "deepfake_faces"] = "auto"


class SampleParams(Section):
    n_actors: int = Field(8, ge=2)
    fakes_per_real: int = Field(2, ge=1)
    frames: int = Field(30, ge=4)
    fps: int = Field(15, ge=1)
    width: int = Field(320, ge=96)
    height: int = Field(240, ge=96)


class ExtractParams(Section):
    out_dir: Path = Path("data/interim/faces")
    parts_dir: Path = Path("data/interim/parts")
    manifest: Path = Path("data/interim/manifest.csv")
    rejects: Path = Path("data/interim/rejects.csv")
    frames_per_video: int = Field(8, ge=1)
    detector: Literal["mtcnn", "haar"] = "mtcnn"
    detect_max_side: int = Field(640, ge=64)
    min_confidence: float = Field(0.9, ge=0, le=1)
    min_face_size: int = Field(40, ge=1)
    max_faces_per_frame: int = Field(2, ge=1)
    margin: float = Field(0.3, ge=0, le=2)
    crop_size: int = Field(224, ge=16)
    jpeg_quality: int = Field(95, ge=10, le=100)
    workers: int = Field(0, ge=0)


class ValidateParams(Section):
    report_dir: Path = Path("reports/validation")
    result: Path = Path("reports/validation/result.json")
    min_crop_side: int = 64
    min_brightness: float = 10
    max_brightness: float = 245
    min_sharpness: float = 5.0
    min_confidence: float = 0.8
    min_per_class: int = 1
    soft_mostly: float = Field(0.95, gt=0, le=1)


class CleanParams(Section):
    manifest: Path = Path("data/interim/clean.csv")
    dropped: Path = Path("data/interim/dropped.csv")
    min_side: int = 64
    min_brightness: float = 15
    max_brightness: float = 240
    min_sharpness: float = 10.0
    phash_max_distance: int = Field(4, ge=0, le=64)


class BalanceParams(Section):
    manifest: Path = Path("data/split/manifest.csv")
    class_counts: Path = Path("reports/class_counts.csv")
    synth_dir: Path = Path("data/split/synth")
    val_size: float = Field(0.15, ge=0, lt=1)
    test_size: float = Field(0.2, gt=0, lt=1)
    strategy: Literal["none", "undersample", "oversample", "self_blend"] = "undersample"
    max_per_group: int = Field(0, ge=0)

    @field_validator("test_size")
    @classmethod
    def _sizes_leave_training(cls, v: float, info) -> float:
        val = info.data.get("val_size", 0.0)
        if v + val >= 0.9:
            raise ValueError("val_size + test_size must leave at least 10% for training")
        return v


class TrainParams(Section):
    model_config = ConfigDict(extra="allow", frozen=True)
    models_dir: Path = Path("models")
    models: list[str] = ["baseline_cnn", "xception", "sklearn_fft"]


class EvaluateParams(Section):
    model_config = ConfigDict(extra="allow", frozen=True)
    metrics_dir: Path = Path("metrics")
    plots_dir: Path = Path("plots")
    clip: tuple[float, float] = (0.01, 0.99)


class PromoteParams(Section):
    model_config = ConfigDict(extra="allow", frozen=True)
    metric: str = "auc"
    dir: Path = Path("models/promoted")


class Params(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    seed: int = 42
    data: DataParams = DataParams()
    sample: SampleParams = SampleParams()
    extract: ExtractParams = ExtractParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    clean: CleanParams = CleanParams()
    balance: BalanceParams = BalanceParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    promote: PromoteParams = PromoteParams()


class ConfigError(ValueError):
    """params.yaml is missing, unreadable or has a wrong field (the message names it)."""


def params_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(PARAMS_ENV) or DEFAULT_PARAMS)


def load_params(path: str | Path | None = None) -> Params:
    """Load and validate params.yaml (or ``$DEEPFAKE_PARAMS``); defaults fill absent sections."""
    p = params_path(path)
    if not p.exists():
        raise ConfigError(f"{p}: params file not found (run from the project root or set {PARAMS_ENV})")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: top level must be a mapping of sections")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{p}: {problems}") from exc
