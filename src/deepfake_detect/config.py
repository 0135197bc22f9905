"""Typed view of ``params.yaml``: the single source of truth for every knob and path.

Stage code never hard-codes a path or threshold that ``dvc.yaml`` also declares; it reads it
from here. Every field is required and none has a default here: ``params.yaml`` is the one place a
default is written. Unknown keys are errors so that a typo in ``params.yaml`` fails loudly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deepfake_detect.errors import DeepfakeError

PARAMS_ENV = "DEEPFAKE_PARAMS"
DEFAULT_PARAMS = Path("params.yaml")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(Section):
    raw_dir: Path
    layout: Literal["auto", "dfdc_videos", "deepfake_faces"]
    feedback_dir: Path  # labelled review crops (deepfake-faces layout): a second source; absent or empty = none yet


class SampleParams(Section):
    n_actors: int = Field(ge=2)
    fakes_per_real: int = Field(ge=1)
    frames: int = Field(ge=4)
    fps: int = Field(ge=1)
    width: int = Field(ge=96)
    height: int = Field(ge=96)


class ExtractParams(Section):
    out_dir: Path
    parts_dir: Path
    manifest: Path
    rejects: Path
    frames_per_video: int = Field(ge=1)
    detector: Literal["blazeface", "mtcnn", "haar"]
    detect_max_side: int = Field(ge=64)
    sampling: Literal["nearest_reference", "exact"]
    decode_max_side: int = Field(ge=64)
    min_detect_px: int = Field(ge=12)
    min_confidence: dict[Literal["blazeface", "mtcnn", "haar"], float]
    track_min_iou: float = Field(ge=0, le=1)
    track_max_shift: float = Field(ge=0)
    min_face_size: int = Field(ge=1)
    max_faces_per_frame: int = Field(ge=1)
    margin: float = Field(ge=0, le=2)
    crop_size: int = Field(ge=16)
    jpeg_quality: int = Field(ge=10, le=100)
    workers: int = Field(ge=0)
    verify_batch: int = Field(ge=1)
    verify_ready_crops: bool

    @property
    def face_threshold(self) -> float:
        """The chosen detector's ``min_confidence``: each detector scores faces on its own scale."""
        return self.min_confidence[self.detector]

    @model_validator(mode="after")
    def _threshold_for_detector(self) -> ExtractParams:
        if self.detector not in self.min_confidence:
            raise ValueError(f"extract.min_confidence has no entry for detector {self.detector!r}")
        if self.decode_max_side < self.detect_max_side:
            raise ValueError(
                f"extract.decode_max_side ({self.decode_max_side}) is below extract.detect_max_side "
                f"({self.detect_max_side}): the detector would see frames smaller than it works on"
            )
        if not all(0 <= v <= 1 for v in self.min_confidence.values()):
            raise ValueError("extract.min_confidence: every threshold must be within [0, 1]")
        return self


class QualityParams(Section):
    """What a usable face crop is: validate reports the share of crops outside these bounds, clean
    drops them (one set of thresholds, so the report says what clean will remove)."""

    min_side: int = Field(ge=1)
    min_brightness: float = Field(ge=0, le=255)
    max_brightness: float = Field(ge=0, le=255)
    min_sharpness: float = Field(ge=0)


class ValidateParams(Section):
    manifest_report: Path
    split_report: Path
    stats: Path
    min_confidence: float
    soft_mostly: float = Field(gt=0, le=1)


class CleanParams(Section):
    manifest: Path
    dropped: Path
    phash_max_distance: int = Field(ge=0, le=64)


class BalanceParams(Section):
    manifest: Path
    class_counts: Path
    synth_dir: Path
    val_size: float = Field(ge=0, lt=1)
    test_size: float = Field(gt=0, lt=1)
    strategy: Literal["none", "undersample", "oversample", "self_blend"]
    max_per_group: int = Field(ge=0)

    @field_validator("test_size")
    @classmethod
    def _sizes_leave_training(cls, v: float, info) -> float:
        val = info.data.get("val_size", 0.0)
        if v + val >= 0.9:
            raise ValueError("val_size + test_size must leave at least 10% for training")
        return v


class AugmentParams(Section):
    """Training-time augmentations and pseudo-fakes; probabilities are per image."""

    flip: bool
    rotation_deg: float = Field(ge=0, le=45)
    brightness: float = Field(ge=0, le=1)
    contrast: float = Field(ge=0, le=1)
    jpeg_quality: tuple[int, int]
    jpeg_prob: float = Field(ge=0, le=1)
    blur_prob: float = Field(ge=0, le=1)
    noise_std: float = Field(ge=0)
    noise_prob: float = Field(ge=0, le=1)
    cutout_prob: float = Field(ge=0, le=1)
    cutout_frac: float = Field(gt=0, le=1)
    downscale_prob: float = Field(ge=0, le=1)
    downscale_range: tuple[float, float]
    self_blend: float = Field(ge=0, le=1)
    min_dataset_share: float = Field(ge=0, le=0.5)

    @field_validator("jpeg_quality")
    @classmethod
    def _quality_range(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= v[0] <= v[1] <= 100:
            raise ValueError("need 0 <= low <= high <= 100")
        return v

    @field_validator("downscale_range")
    @classmethod
    def _scale_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0.1 <= v[0] <= v[1] <= 1:
            raise ValueError("need 0.1 <= low <= high <= 1 (a fraction of the side)")
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
    "baseline_cnn", "xception", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "sklearn_fft"
]


class TrainParams(Section):
    models_dir: Path
    curves_dir: Path
    models: list[ModelName]
    distribute: Literal["auto", "default", "mirrored"]
    augment: AugmentParams
    baseline_cnn: BaselineCnnParams
    xception: XceptionParams
    efficientnet_lite0: EfficientNetLiteParams
    efficientnet_lite1: EfficientNetLiteParams
    efficientnet_lite2: EfficientNetLiteParams
    sklearn_fft: SklearnFftParams


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
    serve_threshold: Literal["balanced", "video_fpr"]
    shadow: Literal["off", "report", "gate"]  # shadow-score the review queue before promoting (release/shadow.py)
    shadow_days: int = Field(ge=1)  # the review queue's items of the last N days are re-scored
    shadow_report: Path  # the shadow report promote (and `deepfake shadow`) writes

    @field_validator("shadow", mode="before")
    @classmethod
    def _off_is_a_word(cls, v: Any) -> Any:
        return "off" if v is False else v  # YAML 1.1 reads a bare `off` as false


class DriftParams(Section):
    """Drift monitoring (``deepfake drift``, the monitor DAG): what is compared and when it alarms."""

    report_dir: Path
    reference_split: Literal["train", "val", "test"]
    reference_size: int = Field(ge=20)
    window_days: int = Field(ge=1)
    min_rows: int = Field(ge=5)
    batch_size: int = Field(ge=1)
    columns: list[str]
    column_method: str
    column_threshold: float = Field(gt=0)
    drift_share: float = Field(gt=0, le=1)
    prediction_method: str
    prediction_threshold: float = Field(gt=0)
    embedding_method: Literal["mmd", "model", "distance", "ratio"]
    embedding_threshold: float | None
    embedding_bootstrap: bool
    embedding_quantile: float = Field(gt=0, lt=1)
    embedding_pca: int = Field(ge=0)
    min_signals: int = Field(ge=1, le=3)
    frames_per_video: int = Field(ge=1)
    schedule: str | None
    asset: str
    timeout_s: int = Field(ge=60)  # per monitor DAG task

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, v: list[str]) -> list[str]:
        known = {"width", "height", "brightness", "contrast", "sharpness", "saturation"}  # imagestats, both sides
        unknown = sorted(set(v) - known)
        if unknown or not v:
            raise ValueError(f"unknown or no column(s) {unknown}; choose from {sorted(known)}")
        return v


class DagsParams(Section):
    """Both Airflow DAGs: the environment variables (names or globs) a task's subprocess receives."""

    task_env: list[str] = Field(min_length=1)

    @field_validator("task_env")
    @classmethod
    def _no_catch_all(cls, v: list[str]) -> list[str]:
        if any(name.strip("*?") == "" for name in v):
            raise ValueError("a pattern matching every variable would pass every secret; name them")
        return v


class RetrainParams(Section):
    """The retrain DAG: when it runs, how it retries, what the evaluation gate demands."""

    schedule: str | None
    gate_min: float
    retries: int = Field(ge=0)
    retry_delay_s: int = Field(ge=0)
    timeout_s: int = Field(ge=60)
    serving_reload_url: str
    labels_asset: str  # updated instead of retraining when a drift event brings no new labels


# FFmpeg demuxers that open other files, URLs or devices named inside the upload
UNSAFE_DEMUXERS = frozenset(
    {
        "hls",
        "applehttp",
        "concat",
        "image2",
        "dash",
        "rtsp",
        "sdp",
        "tee",
        "lavfi",
        "v4l2",
        "x11grab",
        "fbdev",
        "alsa",
        "pulse",
        "avfoundation",
        "gdigrab",
        "dshow",
    }
)


class LiveParams(Section):
    """``deepfake eval live``: each served model version judged on the reviewers' labels, week by week."""

    report_dir: Path
    min_n: int = Field(ge=1)  # fewer labelled items in a slice: "n too small" instead of AUC and ECE
    calibration_bins: int = Field(ge=2)
    weeks: int = Field(ge=1)  # the last N ISO weeks of labels


class ReviewParams(Section):
    """The review queue (:mod:`.review`): which served requests keep their face crops for a person, how long."""

    keep_crops: bool
    dir: Path
    margin: float = Field(ge=0, le=0.5)
    audit_rate: float = Field(ge=0, le=1)
    on_drift: bool
    days: int = Field(ge=1)


class ServeParams(Section):
    """Serving (BentoML service and ``deepfake score``): input limits, sampling, batching, request log."""

    model_tag: str
    frames_per_video: int = Field(ge=16)
    detect_batch: int = Field(ge=1)
    max_upload_mb: float = Field(gt=0)
    max_duration_s: float = Field(gt=0)
    min_side: int = Field(ge=1)
    max_side: int = Field(ge=64)
    max_pixels: int = Field(ge=4096)
    api_key_env: str
    admin_key_env: str
    request_log_dir: Path
    request_log: bool
    batch_max_size: int = Field(ge=1)
    batch_max_latency_ms: int = Field(ge=10)
    max_batch_images: int = Field(ge=1)
    explain_max_faces: int = Field(ge=1)
    timeout_s: int = Field(ge=10)
    deadline_s: float = Field(gt=0)
    workers: int = Field(ge=1)
    threads: int = Field(ge=1)
    max_concurrency: int = Field(ge=1)
    video_formats: list[str] = Field(min_length=1)
    max_fps: float = Field(gt=0)
    max_frames: int = Field(ge=16)
    max_request_pixels: int = Field(ge=4096)
    max_name_bytes: int = Field(ge=16, le=240)
    request_log_days: int = Field(ge=0)
    prior_fake: float | None = Field(gt=0, lt=1)
    review: ReviewParams

    @model_validator(mode="after")
    def _review_needs_the_request_log(self) -> ServeParams:
        if self.review.keep_crops and not self.request_log:
            raise ValueError("review.keep_crops needs serve.request_log: a kept request is named by its request-log id")
        return self

    @field_validator("deadline_s")
    @classmethod
    def _deadline_inside_timeout(cls, v: float, info) -> float:
        timeout = info.data.get("timeout_s", 0)
        if timeout and v >= timeout:
            raise ValueError(f"must be below serve.timeout_s ({timeout}) so a request stops its own work first")
        return v

    @field_validator("video_formats")
    @classmethod
    def _no_unsafe_demuxers(cls, v: list[str]) -> list[str]:
        unsafe = sorted(set(v) & UNSAFE_DEMUXERS)
        if unsafe:
            raise ValueError(f"{unsafe} read other files or devices and must not be allowed")
        return v


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
