"""The typed contracts between components: each has exactly one definition, here.

* :class:`ModelRecord`       ``record.json`` of a model folder (train writes it, promote completes it)
* :class:`BentoMetadata`     the metadata of a promoted model in the BentoML model store
* :class:`DriftResult`       what ``drift.compare`` decides (``drift-<time>.json``, ``latest.json``)
* :class:`GateDecision`      the retrain DAG's evaluation gate (``deepfake gate`` prints it)
* :class:`PromotionDecision` what promote decided and why (``promote.decision``)
* :class:`RollbackResult`    what ``deepfake promote --rollback`` did
* :class:`Calibration`       the calibration map stored in ``record.json`` and the metrics
* the manifest row is :class:`deepfake_detect.data.manifest.ManifestRow`, beside its reader and writer
* the score results (HTTP answers, ``deepfake score --json``) are in :mod:`deepfake_detect.scoring.result`

Every reader and writer goes through these models: a missing or misspelt field fails where the
file is read, naming the field, instead of a guessed default somewhere downstream. A field that
only some records carry is ``X | None`` and says when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deepfake_detect.errors import DeepfakeError
from deepfake_detect.files import write_text_atomic

FRAME_METRICS = ("auc", "log_loss", "balanced_accuracy", "accuracy", "precision", "recall", "f1")
Signal = Literal["columns", "embedding", "prediction"]


class ContractError(DeepfakeError, ValueError):
    """A contract file that is unreadable or lacks / mistypes a field (the message names both)."""


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    @classmethod
    def read(cls, path: str | Path):
        """Parse and validate a JSON file of this contract; :class:`ContractError` names the file."""
        path = Path(path)
        try:
            return cls.model_validate_json(path.read_text())
        except (OSError, ValidationError) as exc:
            raise ContractError(f"{path}: not a valid {cls.__name__}: {_problems(exc)}") from exc

    def write(self, path: str | Path) -> Path:
        """Write as indented JSON, atomically (a unique temp file + ``os.replace``)."""
        return write_text_atomic(path, self.model_dump_json(indent=2))


def _problems(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
    return str(exc)


# --------------------------------------------------------------------------- models


class ModelRecord(Contract):
    """``record.json``: what a model folder holds and how it was made.

    Train writes the first block (``threshold`` is 0.5 until evaluate picks one on val); promote
    copies it into a release with the evaluated fields filled in."""

    name: str
    family: Literal["keras", "sklearn"]
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
    metrics: dict[str, Any]
    embedding_layer: str | None = None  # Keras: the pooled-features layer; None for scikit-learn
    pretrained: str | None = None  # Keras transfer families: imagenet | none
    crop_margin: float | None = None  # framing of the training crops (framing.crop_margin); serving crops so
    n_features: int | None = None  # scikit-learn: length of the feature vector
    data_path: str | None = None  # data.raw_dir as params named it (None in records made before it was kept)
    # filled by promote (None in a trained, not yet promoted folder)
    tag: str | None = None
    calibration: Calibration | None = None
    operating_point: dict[str, Any] | None = None
    promoted_at: str | None = None
    promote_git_rev: str | None = None


class BentoMetadata(Contract):
    """Metadata of a promoted model's BentoML store entry (``release`` names its release folder)."""

    threshold: float
    metrics: dict[str, float]
    video_metrics: dict[str, float]
    params: str  # JSON of the training params (BentoML metadata values are flat)
    data_version: str
    git_rev: str
    family: Literal["keras", "sklearn"]
    model: str
    release: str
    input_size: int

    @classmethod
    def parse(cls, metadata: dict[str, Any], where: str) -> BentoMetadata:
        """Validate a store entry's metadata; :class:`ContractError` names the entry (``where``)."""
        try:
            return cls.model_validate(metadata)
        except ValidationError as exc:
            raise ContractError(f"{where}: metadata is not a {cls.__name__}: {_problems(exc)}") from exc

    @classmethod
    def from_record(cls, record: ModelRecord) -> BentoMetadata:
        if record.tag is None:
            raise ContractError(f"model {record.name}: record has no release tag (only promote saves to the store)")
        video = record.metrics.get("video") or {}  # metrics/<model>.json, not a contract of its own
        return cls(
            threshold=record.threshold,
            metrics={k: float(record.metrics[k]) for k in FRAME_METRICS if k in record.metrics},
            video_metrics={k: v for k, v in video.items() if isinstance(v, float)},
            params=json.dumps(record.params, default=str),
            data_version=record.data_version,
            git_rev=record.git_rev,
            family=record.family,
            model=record.name,
            release=record.tag,
            input_size=record.input_size,
        )


# --------------------------------------------------------------------------- drift


class ColumnDrift(Contract):
    score: float | None  # the stat test's score (a p-value for ks)
    drifted: bool


class MeanProbability(Contract):
    reference: float
    current: float


class DriftResult(Contract):
    """One drift run: the verdict, each signal's figures and the window compared.

    With ``status == "insufficient_data"`` no test ran: the figures are None and ``message`` says why."""

    status: Literal["ok", "insufficient_data"]
    drift_detected: bool
    signals: list[Signal]
    window: dict[str, Any]
    n_reference: int
    n_current: int
    created: str
    min_signals: int
    share_drifted_columns: float | None
    drift_share: float
    drifted_columns: list[str]
    columns: dict[str, ColumnDrift]
    column_method: str
    embedding_drift_score: float | None
    embedding_drift: bool | None
    embedding_method: str
    embedding_dims: int | None
    prediction_drift: bool | None
    prediction_drift_score: float | None
    prediction_method: str
    mean_probability: MeanProbability | None
    message: str | None
    report_html: str | None
    report_json: str | None

    def summary(self) -> dict[str, Any]:
        """The figures an operator (the CLI line, the monitor DAG's Asset event) needs, as JSON data."""
        return self.model_dump(mode="json", include=set(SUMMARY_FIELDS))


SUMMARY_FIELDS = (
    "drift_detected",
    "signals",
    "status",
    "share_drifted_columns",
    "drifted_columns",
    "embedding_drift_score",
    "embedding_drift",
    "prediction_drift",
    "prediction_drift_score",
    "n_reference",
    "n_current",
    "window",
    "message",
    "report_html",
    "report_json",
)


# --------------------------------------------------------------------------- gate and promotion


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


class RollbackResult(Contract):
    rolled_back_from: str | None
    serving: str
    bento_tag: str


RECORD_FILE = "record.json"


PROJECTION_FILE = "projection.npz"


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

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw ones (float32, same shape)."""
        p = np.asarray(p, np.float64)
        if self.method == "none" or p.size == 0:
            return p.astype(np.float32)
        if self.method == "isotonic":
            return np.interp(p, self.x, self.y).astype(np.float32)
        z = self.slope * logit(p) + self.bias
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


IDENTITY = Calibration(method="none")


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)
