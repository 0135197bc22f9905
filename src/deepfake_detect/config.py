"""Typed view of ``params.yaml``: the single source of truth for every knob and path.

Stage code never hard-codes a path or threshold that ``dvc.yaml`` also declares; it reads it
from here. Unknown keys are errors so that a typo in ``params.yaml`` fails loudly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import DeepfakeError

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
    min_detect_px: int = Field(20, ge=12)
    min_confidence: float = Field(0.9, ge=0, le=1)
    min_face_size: int = Field(40, ge=1)
    max_faces_per_frame: int = Field(2, ge=1)
    margin: float = Field(0.3, ge=0, le=2)
    crop_size: int = Field(224, ge=16)
    jpeg_quality: int = Field(95, ge=10, le=100)
    workers: int = Field(0, ge=0)
    verify_ready_crops: bool = True


class ValidateParams(Section):
    manifest_report: Path = Path("reports/validation/manifest")
    split_report: Path = Path("reports/validation/split")
    stats: Path = Path("data/interim/crop_stats.csv")
    min_crop_side: int = 64
    min_brightness: float = 10
    max_brightness: float = 245
    min_sharpness: float = 25.0
    min_confidence: float = 0.8
    min_per_class: int = 1
    soft_mostly: float = Field(0.95, gt=0, le=1)


class CleanParams(Section):
    manifest: Path = Path("data/interim/clean.csv")
    dropped: Path = Path("data/interim/dropped.csv")
    min_side: int = 64
    min_brightness: float = 10
    max_brightness: float = 240
    min_sharpness: float = 25.0
    phash_max_distance: int = Field(2, ge=0, le=64)


class BalanceParams(Section):
    manifest: Path = Path("data/split/manifest.csv")
    class_counts: Path = Path("reports/class_counts.csv")
    synth_dir: Path = Path("data/split/synth")
    val_size: float = Field(0.15, ge=0, lt=1)
    test_size: float = Field(0.2, gt=0, lt=1)
    strategy: Literal["none", "undersample", "oversample", "self_blend"] = "none"
    max_per_group: int = Field(0, ge=0)

    @field_validator("test_size")
    @classmethod
    def _sizes_leave_training(cls, v: float, info) -> float:
        val = info.data.get("val_size", 0.0)
        if v + val >= 0.9:
            raise ValueError("val_size + test_size must leave at least 10% for training")
        return v


class AugmentParams(Section):
    """Training-time augmentations (DFDC winners' set); probabilities are per image."""

    flip: bool = True
    rotation_deg: float = Field(0.0, ge=0, le=45)
    brightness: float = Field(0.1, ge=0, le=1)
    contrast: float = Field(0.1, ge=0, le=1)
    jpeg_quality: tuple[int, int] = (60, 100)
    jpeg_prob: float = Field(0.0, ge=0, le=1)
    blur_prob: float = Field(0.0, ge=0, le=1)
    noise_std: float = Field(4.0, ge=0)
    noise_prob: float = Field(0.0, ge=0, le=1)
    cutout_prob: float = Field(0.0, ge=0, le=1)
    cutout_frac: float = Field(0.3, gt=0, le=1)

    @field_validator("jpeg_quality")
    @classmethod
    def _quality_range(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= v[0] <= v[1] <= 100:
            raise ValueError("need 0 <= low <= high <= 100")
        return v


class KerasTrainParams(Section):
    """Settings every Keras family shares."""

    input_size: int = Field(128, ge=32)
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(5, ge=1)
    steps_per_epoch: int = Field(0, ge=0)
    learning_rate: float = Field(1e-3, gt=0)
    label_smoothing: float = Field(0.0, ge=0, lt=0.5)
    class_weight: bool = True
    augment: bool = True
    patience: int = Field(2, ge=1)
    early_stopping_on: Literal["logloss", "auc"] = "logloss"
    lr_schedule: Literal["cosine", "plateau", "constant"] = "cosine"
    val_max: int = Field(0, ge=0)
    sampling: Literal["as_split", "balanced", "pairs"] = "as_split"


class BaselineCnnParams(KerasTrainParams):
    """The seed notebook's simple CNN, kept as the reference."""

    augment: bool = False
    label_smoothing: float = 0.0
    class_weight: bool = False
    lr_schedule: Literal["cosine", "plateau", "constant"] = "constant"


class XceptionParams(KerasTrainParams):
    """Xception transfer learning: phase 1 frozen base, phase 2 top blocks unfrozen."""

    input_size: int = Field(128, ge=71)
    pretrained: Literal["auto", "imagenet", "none"] = "auto"
    fine_tune_epochs: int = Field(1, ge=0)
    unfreeze_from: int = Field(56, ge=0)
    fine_tune_learning_rate: float = Field(1e-4, gt=0)
    dropout: float = Field(0.3, ge=0, lt=1)
    label_smoothing: float = 0.05


class EfficientNetLite0Params(KerasTrainParams):
    """EfficientNet-Lite0 with Google's ImageNet weights: head warm-up, then the whole network."""

    input_size: int = Field(160, ge=32)
    pretrained: Literal["imagenet", "none"] = "imagenet"
    warmup_epochs: int = Field(1, ge=0)
    warmup_learning_rate: float = Field(1e-3, gt=0)
    dropout: float = Field(0.3, ge=0, lt=1)


class SklearnFftParams(Section):
    """Hand-made features (azimuthal FFT spectrum + colour/texture stats) + a classical classifier."""

    classifier: Literal["logreg", "gboost"] = "logreg"
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(2000, ge=10)
    n_estimators: int = Field(200, ge=1)
    max_train: int = Field(0, ge=0)
    class_weight: bool = True


class TrainParams(Section):
    models_dir: Path = Path("models/trained")
    curves_dir: Path = Path("plots/train")
    models: list[Literal["baseline_cnn", "xception", "efficientnet_lite0", "sklearn_fft"]] = [
        "baseline_cnn",
        "xception",
        "efficientnet_lite0",
        "sklearn_fft",
    ]
    distribute: Literal["auto", "default", "mirrored"] = "auto"
    augment: AugmentParams = AugmentParams()
    baseline_cnn: BaselineCnnParams = BaselineCnnParams()
    xception: XceptionParams = XceptionParams()
    efficientnet_lite0: EfficientNetLite0Params = EfficientNetLite0Params()
    sklearn_fft: SklearnFftParams = SklearnFftParams()


class EvaluateParams(Section):
    metrics_dir: Path = Path("metrics")
    plots_dir: Path = Path("plots/eval")
    comparison: Path = Path("reports/models/comparison.md")
    clip: tuple[float, float] = (0.01, 0.99)
    video_aggregation: Literal["mean", "confident"] = "confident"
    threshold_rule: Literal["balanced_accuracy", "f1"] = "balanced_accuracy"
    batch_size: int = Field(64, ge=1)
    calibration: Literal["none", "temperature", "platt", "isotonic"] = "platt"
    calibration_bins: int = Field(15, ge=2)
    target_fpr: float = Field(0.05, gt=0, lt=1)

    @field_validator("clip")
    @classmethod
    def _clip_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= v[0] < v[1] <= 1:
            raise ValueError("need 0 <= lo < hi <= 1")
        return v


class PromoteParams(Section):
    metric: Literal["auc", "log_loss", "balanced_accuracy", "accuracy", "precision", "recall", "f1"] = "auc"
    level: Literal["frame", "video"] = "frame"
    candidates: list[str] = []  # models allowed to be promoted; empty = every model in train.models
    min_improvement: float = Field(0.0, ge=0)
    dir: Path = Path("models/promoted")
    releases_dir: Path = Path("models/releases")
    decision: Path = Path("reports/models/promotion.json")
    bento_name: str = "deepfake-detector"
    embedding_components: int = Field(16, ge=1)
    embedding_samples: int = Field(512, ge=16)


class DriftParams(Section):
    """Drift monitoring (``deepfake drift``, the monitor DAG): what is compared and when it alarms."""

    report_dir: Path = Path("reports/drift")
    reference_split: Literal["train", "val", "test"] = "val"
    reference_size: int = Field(600, ge=20)
    window_days: int = Field(1, ge=1)
    min_rows: int = Field(30, ge=5)
    columns: list[str] = ["brightness", "contrast", "sharpness", "saturation"]
    column_method: str = "ks"
    column_threshold: float = Field(0.01, gt=0)
    drift_share: float = Field(0.25, gt=0, le=1)
    prediction_method: str = "ks"
    prediction_threshold: float = Field(0.01, gt=0)
    embedding_method: Literal["mmd", "model", "distance", "ratio"] = "model"
    embedding_threshold: float | None = None
    embedding_bootstrap: bool = True
    embedding_quantile: float = Field(0.99, gt=0, lt=1)
    embedding_pca: int = Field(0, ge=0)
    min_signals: int = Field(1, ge=1, le=3)
    frames_per_video: int = Field(8, ge=1)
    schedule: str | None = "@daily"
    asset: str = "deepfake_drift"
    timeout_s: int = Field(3600, ge=60)  # per monitor DAG task

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

    task_env: list[str] = Field(
        [
            "PATH",
            "HOME",
            "USER",
            "LOGNAME",
            "LANG",
            "LC_*",
            "TZ",
            "TMPDIR",
            "DEEPFAKE_PROJECT_DIR",
            "DEEPFAKE_PARAMS",
            "DEEPFAKE_VENV",
            "DVC_*",
            "BENTOML_*",
            "AWS_*",
            "GIT_*",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "REQUESTS_CA_BUNDLE",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "NO_PROXY",
            "http_proxy",
            "https_proxy",
            "no_proxy",
            "CUDA_*",
            "NVIDIA_*",
            "LD_LIBRARY_PATH",
            "TF_*",
            "KERAS_*",
            "OMP_NUM_THREADS",
        ],
        min_length=1,
    )

    @field_validator("task_env")
    @classmethod
    def _no_catch_all(cls, v: list[str]) -> list[str]:
        if any(name.strip("*?") == "" for name in v):
            raise ValueError("a pattern matching every variable would pass every secret; name them")
        return v


class RetrainParams(Section):
    """The retrain DAG: when it runs, how it retries, what the evaluation gate demands."""

    schedule: str | None = "@weekly"
    gate_min: float = 0.6
    retries: int = Field(2, ge=0)
    retry_delay_s: int = Field(300, ge=0)
    timeout_s: int = Field(6 * 3600, ge=60)
    serving_reload_url: str = ""


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


class ServeParams(Section):
    """Serving (BentoML service and ``deepfake score``): input limits, sampling, batching, request log."""

    model_tag: str = "deepfake-detector:latest"
    frames_per_video: int = Field(16, ge=16)
    detect_batch: int = Field(8, ge=1)
    max_upload_mb: float = Field(200, gt=0)
    max_duration_s: float = Field(120, gt=0)
    min_side: int = Field(32, ge=1)
    max_side: int = Field(8192, ge=64)
    max_pixels: int = Field(40_000_000, ge=4096)
    api_key_env: str = "DEEPFAKE_API_KEY"
    request_log_dir: Path = Path("logs/requests")
    request_log: bool = True
    batch_max_size: int = Field(64, ge=1)
    batch_max_latency_ms: int = Field(10_000, ge=10)
    max_batch_images: int = Field(64, ge=1)
    explain_max_faces: int = Field(4, ge=1)
    timeout_s: int = Field(300, ge=10)
    deadline_s: float = Field(240, gt=0)
    workers: int = Field(1, ge=1)
    threads: int = Field(4, ge=1)
    max_concurrency: int = Field(32, ge=1)
    video_formats: list[str] = Field(["mov", "mp4", "matroska", "webm", "avi"], min_length=1)
    max_fps: float = Field(120, gt=0)
    max_frames: int = Field(7200, ge=16)
    max_request_pixels: int = Field(160_000_000, ge=4096)
    max_name_bytes: int = Field(200, ge=16, le=240)
    request_log_days: int = Field(30, ge=0)

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
    drift: DriftParams = DriftParams()
    dags: DagsParams = DagsParams()
    retrain: RetrainParams = RetrainParams()
    serve: ServeParams = ServeParams()

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
        problems = "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{p}: {problems}") from exc
