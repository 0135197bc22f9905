"""A model folder's ``record.json`` (:class:`ModelRecord`: train writes it, promote completes it), the
file names of a release, and a promoted model's BentoML store metadata."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError, field_validator

from deepfake_detect.contracts.base import Contract, ContractError, ModelFamily, problems
from deepfake_detect.contracts.calibration import Calibration
from deepfake_detect.contracts.metrics import FRAME_METRICS, ModelMetrics, OperatingPoint
from deepfake_detect.contracts.unfamiliar import CompressionFit, OodFit

RECORD_FILE = "record.json"
PROJECTION_FILE = "projection.npz"
MEMBERS_DIR = "members"  # an ensemble release: one model folder per member, <MEMBERS_DIR>/<member name>/


class ModelRecord(Contract):
    """``record.json``: what a model folder holds and how it was made.

    Train writes the first block (``threshold`` is 0.5 until evaluate picks one on val); promote
    copies it into a release with the evaluated fields filled in."""

    name: str
    family: ModelFamily
    artifact: str
    input_size: int
    params: dict[str, Any]
    created: str
    git_rev: str
    data_version: str  # DVC's content hash (<md5>.dir) of data_path, the raw data it was trained on
    train_seconds: float
    n_train: int
    n_val: int
    threshold: float
    metrics: ModelMetrics | None = None  # filled by promote: what evaluate found
    embedding_layer: str | None = None  # Keras: the pooled-features layer; None for scikit-learn
    pretrained: str | None = None  # Keras transfer families: imagenet | none
    crop_margin: float | None = None  # framing of the training crops (framing.crop_margin); serving cuts faces so
    test_time_flip: bool = False  # Keras: P(FAKE) = mean logit of a face and its mirror (train.<family>.test_time_flip)
    # evaluate fits the calibration on those scores: every reader scores as the record says
    n_features: int | None = None  # scikit-learn: length of the feature vector
    data_path: str | None = None  # data.raw_dir as params named it (None in records made before it was kept)
    members: list[str] | None = None  # an ensemble: its member models' names, the strongest first (None otherwise)
    # filled by promote (None in a trained, not yet promoted folder)
    tag: str | None = None
    calibration: Calibration | None = None
    operating_point: OperatingPoint | None = None
    ood: OodFit | None = None  # None: promoted before the test existed, or a model with no embedding
    compression: CompressionFit | None = None  # None: promoted before the test existed, or trained on no clip
    promoted_at: str | None = None
    promote_git_rev: str | None = None

    @field_validator("metrics", "operating_point", mode="before")
    @classmethod
    def _untyped_is_absent(cls, v: Any, info) -> Any:
        """Train writes ``{}``, and releases promoted before the :class:`ModelMetrics` contract hold the
        old untyped dict: both load as None (their threshold and calibration are fields of their own)."""
        block = ModelMetrics if info.field_name == "metrics" else OperatingPoint
        if isinstance(v, dict) and not v.keys() >= {n for n, f in block.model_fields.items() if f.is_required()}:
            return None
        return v


class BentoMetadata(Contract):
    """Metadata of a promoted model's BentoML store entry (``release`` names its release folder)."""

    threshold: float
    metrics: dict[str, float]
    video_metrics: dict[str, float]
    params: str  # JSON of the training params (BentoML metadata values are flat)
    data_version: str
    git_rev: str
    family: ModelFamily
    model: str
    release: str
    input_size: int

    @classmethod
    def parse(cls, metadata: dict[str, Any], where: str) -> BentoMetadata:
        """Validate a store entry's metadata; :class:`ContractError` names the entry (``where``)."""
        try:
            return cls.model_validate(metadata)
        except ValidationError as exc:
            raise ContractError(f"{where}: metadata is not a {cls.__name__}: {problems(exc)}") from exc

    @classmethod
    def from_record(cls, record: ModelRecord) -> BentoMetadata:
        if record.tag is None:
            raise ContractError(f"model {record.name}: record has no release tag (only promote saves to the store)")
        m = record.metrics
        return cls(
            threshold=record.threshold,
            metrics={} if m is None else {k: m.frame.value(k) for k in FRAME_METRICS},
            video_metrics={} if m is None else {k: m.video.value(k) for k in FRAME_METRICS},
            params=json.dumps(record.params, default=str),
            data_version=record.data_version,
            git_rev=record.git_rev,
            family=record.family,
            model=record.name,
            release=record.tag,
            input_size=record.input_size,
        )
