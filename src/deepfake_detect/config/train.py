"""The model sections of params.yaml: ``train`` (augmentation and one section per family),
``evaluate``, ``promote``, ``temporal``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from deepfake_detect.config.section import Section

RANGES = {  # AugmentParams' [low, high] settings: field → (floor, ceiling, the scale they are on)
    "jpeg_quality": (0, 100, "JPEG quality"),
    "h264_crf": (0, 51, "x264's CRF scale"),
    "downscale_range": (0.1, 1, "a fraction of the side"),
    "h264_scale": (0.1, 1, "a fraction of the side"),
}


class AugmentParams(Section):
    """Training-time augmentations and pseudo-fakes; probabilities are per image."""

    flip: bool
    rotation_deg: float = Field(ge=0, le=45)
    brightness: float = Field(ge=0, le=1)
    contrast: float = Field(ge=0, le=1)
    jpeg_quality: tuple[int, int]
    jpeg_prob: float = Field(ge=0, le=1)
    h264_crf: tuple[int, int]
    h264_prob: float = Field(ge=0, le=1)
    h264_scale: tuple[float, float]  # the crop is encoded at a random fraction of its side in this range
    blur_prob: float = Field(ge=0, le=1)
    noise_std: float = Field(ge=0)
    noise_prob: float = Field(ge=0, le=1)
    cutout_prob: float = Field(ge=0, le=1)
    cutout_frac: float = Field(gt=0, le=1)
    downscale_prob: float = Field(ge=0, le=1)
    downscale_range: tuple[float, float]
    self_blend: float = Field(ge=0, le=1)
    min_dataset_share: float = Field(ge=0, le=0.5)

    @field_validator(*RANGES)
    @classmethod
    def _ordered_range(cls, v: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
        """A ``[low, high]`` setting lies in its scale (:data:`RANGES`) with low <= high."""
        floor, ceiling, scale = RANGES[info.field_name]
        if not floor <= v[0] <= v[1] <= ceiling:
            raise ValueError(f"need {floor} <= low <= high <= {ceiling} ({scale})")
        return v


class KerasTrainParams(Section):
    """Settings every Keras family shares."""

    input_size: int = Field(ge=32)
    batch_size: int = Field(ge=1)
    epochs: int = Field(ge=1)
    steps_per_epoch: int = Field(ge=0)
    learning_rate: float = Field(gt=0)
    label_smoothing: float = Field(ge=0, lt=0.5)
    class_weight: bool
    augment: bool
    patience: int = Field(ge=1)
    early_stopping_on: Literal["logloss", "auc"]
    lr_schedule: Literal["cosine", "plateau", "constant"]
    val_max: int = Field(ge=0)
    sampling: Literal["as_split", "balanced", "pairs"]
    test_time_flip: bool
    ema_momentum: float = Field(ge=0, lt=1)  # 0 = off; else the last phase keeps an exponential moving average


class BaselineCnnParams(KerasTrainParams):
    """The seed notebook's simple CNN, kept as the reference."""


class XceptionParams(KerasTrainParams):
    """Xception transfer learning: phase 1 frozen base, phase 2 top blocks unfrozen."""

    input_size: int = Field(ge=71)
    pretrained: Literal["auto", "imagenet", "none"]
    fine_tune_epochs: int = Field(ge=0)
    unfreeze_from: int = Field(ge=0)
    fine_tune_learning_rate: float = Field(gt=0)
    dropout: float = Field(ge=0, lt=1)


class EfficientNetLiteParams(KerasTrainParams):
    """EfficientNet-Lite0/1/2 with Google's ImageNet weights: head warm-up, then the whole network."""

    pretrained: Literal["imagenet", "none"]
    warmup_epochs: int = Field(ge=0)
    warmup_learning_rate: float = Field(gt=0)
    freeze_blocks: int = Field(ge=0)
    dropout: float = Field(ge=0, lt=1)


class SklearnFftParams(Section):
    """Hand-made features (azimuthal FFT spectrum + colour/texture stats) + a classical classifier."""

    classifier: Literal["logreg", "gboost"]
    C: float = Field(gt=0)
    max_iter: int = Field(ge=10)
    n_estimators: int = Field(ge=1)
    max_train: int = Field(ge=0)
    class_weight: bool


# models.REGISTRY's families
ModelName = Literal[
    "baseline_cnn",
    "xception",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "sklearn_fft",
    "ensemble",
]


class EnsembleParams(Section):
    """The ``ensemble`` family: the mean of its members' calibrated logits (models/ensemble.py)."""

    members: list[ModelName] = Field(min_length=2)

    @field_validator("members")
    @classmethod
    def _distinct_families(cls, v: list[str]) -> list[str]:
        if "ensemble" in v:
            raise ValueError("an ensemble cannot be a member of itself")
        if len(set(v)) != len(v):
            raise ValueError(f"members repeat a family: {v}")
        return v


class TrainParams(Section):
    models_dir: Path
    curves_dir: Path
    models: list[ModelName]
    distribute: Literal["auto", "default", "mirrored"]
    cache_mb: int = Field(ge=0)
    augment: AugmentParams
    baseline_cnn: BaselineCnnParams
    xception: XceptionParams
    efficientnet_lite0: EfficientNetLiteParams
    efficientnet_lite1: EfficientNetLiteParams
    efficientnet_lite2: EfficientNetLiteParams
    sklearn_fft: SklearnFftParams
    ensemble: EnsembleParams

    @model_validator(mode="after")
    def _ensemble_members_are_trained(self) -> TrainParams:
        """An ensemble in ``train.models`` combines models trained beside it: every member is listed too."""
        if "ensemble" in self.models:
            missing = [m for m in self.ensemble.members if m not in self.models]
            if missing:
                raise ValueError(
                    f"train.ensemble.members {missing} are not in train.models {self.models}: "
                    "an ensemble combines models the pipeline trains"
                )
        return self


class EvaluateParams(Section):
    metrics_dir: Path
    plots_dir: Path
    comparison: Path
    clip: tuple[float, float]
    video_aggregation: Literal["mean", "confident"]
    person_min_share: float = Field(ge=0, le=1)
    threshold_rule: Literal["balanced_accuracy", "f1"]
    batch_size: int = Field(ge=1)
    calibration: Literal["none", "temperature", "platt", "isotonic"]
    calibration_bins: int = Field(ge=2)
    target_fpr: float = Field(gt=0, lt=1)
    target_video_fpr: float = Field(gt=0, lt=1)
    bootstrap_resamples: int = Field(ge=0)

    @field_validator("clip")
    @classmethod
    def _clip_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= v[0] < v[1] <= 1:
            raise ValueError("need 0 <= lo < hi <= 1")
        return v


class PromoteParams(Section):
    metric: Literal["auc", "log_loss", "balanced_accuracy", "accuracy", "precision", "recall", "f1"]
    level: Literal["frame", "video"]
    candidates: list[str]  # models allowed to be promoted; empty = every model in train.models
    min_improvement: float = Field(ge=0)
    max_regression: float = Field(ge=0)  # most promote.metric lost to the served model on the old test split
    dir: Path
    releases_dir: Path
    decision: Path
    bento_name: str
    embedding_components: int = Field(ge=1)
    embedding_samples: int = Field(ge=16)
    ood_quantile: float = Field(gt=0.5, lt=1)
    compression_quantile: float = Field(ge=0, lt=0.5)  # the bits-per-pixel floor: this quantile of the training clips
    serve_threshold: Literal["balanced", "video_fpr"]
    shadow: Literal["off", "report", "gate"]  # shadow-score the review queue before promoting (release/shadow.py)
    shadow_days: int = Field(ge=1)  # the review queue's items of the last N days are re-scored
    shadow_report: Path  # the shadow report promote (and `deepfake shadow`) writes

    @field_validator("shadow", mode="before")
    @classmethod
    def _off_is_a_word(cls, v: Any) -> Any:
        return "off" if v is False else v  # YAML 1.1 reads a bare `off` as false


class TemporalParams(Section):
    """The temporal head over people (models/temporal.py): a GRU over each face track's per-frame
    features from the frozen backbone, measured against frame aggregation (bench/temporal.py)."""

    max_frames: int = Field(ge=2)  # frames of a track the head reads (evenly spaced when longer)
    units: int = Field(ge=1)
    dropout: float = Field(ge=0, lt=1)
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    folds: int = Field(ge=2)  # group folds of the cross-validated comparison
