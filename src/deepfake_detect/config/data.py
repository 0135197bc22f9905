"""The data sections of params.yaml: ``data``, ``sample``, ``extract``, ``quality``, ``validate``,
``clean``, ``balance`` (the raw data and the data stages)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from deepfake_detect.config.section import Section


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
