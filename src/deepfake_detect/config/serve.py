"""The operations sections of params.yaml: ``drift``, ``dags``, ``retrain``, ``live`` (eval live) and
``serve`` (with ``serve.review``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from deepfake_detect.config.section import Section


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
    detect_threads: int = Field(ge=0)
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
    disconnect_poll_s: float = Field(gt=0)
    workers: int = Field(ge=1)
    model_in_front: bool
    access_log: bool
    threads: int = Field(ge=1)
    max_concurrency: int = Field(ge=1)
    video_formats: list[str] = Field(min_length=1)
    max_fps: float = Field(gt=0)
    max_frames: int = Field(ge=16)
    max_request_pixels: int = Field(ge=4096)
    max_name_bytes: int = Field(ge=16, le=240)
    request_log_days: int = Field(ge=0)
    prior_fake: float | None = Field(gt=0, lt=1)
    unfamiliar_share: float = Field(ge=0, lt=1)  # a file is unfamiliar when more than this share of its faces is
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
