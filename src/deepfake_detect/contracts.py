"""The typed contracts between components: each has exactly one definition, here.

* :class:`ModelRecord`       ``record.json`` of a model folder (train writes it, promote completes it)
* :class:`BentoMetadata`     the metadata of a promoted model in the BentoML model store
* :class:`DriftResult`       what ``drift.compare`` decides (``drift-<time>.json``, ``latest.json``), with
                             :class:`UnfamiliarTraffic`, the window's faces answered "unlike the training data"
* :class:`ReviewItem`        one kept request of the review queue (``<serve.review.dir>/<id>/item.json``)
* :class:`GateDecision`      the retrain DAG's evaluation gate (``deepfake gate`` prints it)
* :class:`PromotionDecision` what promote decided and why (``promote.decision``)
* :class:`RollbackResult`    what ``deepfake promote --rollback`` did
* :class:`Calibration`       the calibration map stored in ``record.json`` and the metrics
* :class:`OodFit`            the "unlike the training data" test fitted at promotion (``record.json``), and
                             :class:`CompressionFit`, its bits-per-pixel floor for clips
* :class:`ModelMetrics`      ``metrics/<model>.json``: what evaluate found (gate, promote, report read it)
* :class:`LiveResult`        ``deepfake eval live``: the served versions on the reviewers' labels;
                             :class:`ShadowResult`, ``deepfake shadow``: what a candidate would change
* the manifest row is :class:`deepfake_detect.data.manifest.ManifestRow`, beside its reader and writer
* the score results (HTTP answers, ``deepfake score --json``) are in :mod:`deepfake_detect.scoring.result`

Longer than one sitting on purpose: a contract has exactly one definition, and this is where a
reader looks for it (the metrics blocks and the OOD fit are read by models, release, scoring).

Every reader and writer goes through these models: a missing or misspelt field fails where the
file is read, naming the field, instead of a guessed default somewhere downstream. A field that
only some records carry is ``X | None`` and says when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deepfake_detect.errors import DeepfakeError
from deepfake_detect.files import write_text_atomic

MetricName = Literal["auc", "log_loss", "balanced_accuracy", "accuracy", "precision", "recall", "f1"]
FRAME_METRICS: tuple[MetricName, ...] = get_args(MetricName)  # the metric names, written once
LOWER_IS_BETTER: frozenset[MetricName] = frozenset({"log_loss"})
Level = Literal["frame", "person", "video"]
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

# how a model folder's artifact loads: a Keras model, a scikit-learn pipeline, or an ensemble of model folders
ModelFamily = Literal["keras", "sklearn", "ensemble"]


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
            raise ContractError(f"{where}: metadata is not a {cls.__name__}: {_problems(exc)}") from exc

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


# --------------------------------------------------------------------------- drift


class ColumnDrift(Contract):
    score: float | None  # the stat test's score (a p-value for ks)
    drifted: bool


class MeanProbability(Contract):
    reference: float
    current: float


class UnfamiliarTraffic(Contract):
    """How many of a request-log window's faces the release itself answered "unlike the training data",
    by reason (:func:`.monitoring.tables.unfamiliar_traffic`). Heavy compression moves no embedding, so
    this is where a rise in it shows."""

    n_faces: int
    n_judged: int  # faces that at least one test could judge (a release without the fits judges none)
    unlike_faces: int  # the face's embedding past the release's OOD threshold
    too_compressed: int  # the face's clip below the release's bits-per-pixel floor
    either: int

    @property
    def share(self) -> float | None:
        """The judged faces answered unfamiliar for any reason; None when none was judged."""
        return self.either / self.n_judged if self.n_judged else None


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
    unfamiliar: UnfamiliarTraffic | None = None  # request-log windows only (and results written before it: none)
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
    "unfamiliar",
    "window",
    "message",
    "report_html",
    "report_json",
)


# --------------------------------------------------------------------------- the review queue

ReviewReason = Literal["margin", "drift", "audit"]


class ReviewCrop(Contract):
    name: str  # the JPEG in the item's folder
    frame: int | None  # frame index in the clip; None for an image
    face: int
    person: int
    probability: float  # the face's P(FAKE)


class ReviewItem(Contract):
    """One kept request (``<serve.review.dir>/<id>/item.json``)."""

    id: str
    request_id: str  # the request log's id of the request
    endpoint: str
    file: str  # the upload's name (never a server path)
    time: str  # ISO-8601 UTC, when it was scored
    model_tag: str
    score: float  # the request's P(FAKE): the clip's (its fakest person) or the image's
    threshold: float
    reason: ReviewReason
    crops: list[ReviewCrop]
    label: Literal["REAL", "FAKE"] | None = None  # None until a person labels it
    note: str | None = None
    labelled_at: str | None = None


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
    shadow_report: str | None = None  # the shadow report it wrote (promote.shadow report | gate), else None


class RollbackResult(Contract):
    rolled_back_from: str | None
    serving: str
    bento_tag: str


RECORD_FILE = "record.json"


PROJECTION_FILE = "projection.npz"


MEMBERS_DIR = "members"  # an ensemble release: one model folder per member, <MEMBERS_DIR>/<member name>/


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
    base_rate: float | None = Field(
        None, gt=0, lt=1, description="share of FAKE in the crops it was fitted on (None: fitted before it was kept)"
    )
    deploy_rate: float | None = Field(
        None, gt=0, lt=1, description="share of FAKE expected where it is used (None: the base rate, no shift)"
    )

    @property
    def shift(self) -> float:
        """logit(deploy_rate) − logit(base_rate): the prior-shift correction added to the calibrated
        logit (Bayes: the likelihood ratio stays, the prior odds change); 0 without a deploy rate."""
        if self.deploy_rate is None or self.base_rate is None:
            return 0.0
        return float(logit(np.array(self.deploy_rate)) - logit(np.array(self.base_rate)))

    def at_prior(self, prior_fake: float | None) -> Calibration:
        """This map shifted to a deployment where ``prior_fake`` of the faces are FAKE (None: unshifted)."""
        if prior_fake is not None and self.base_rate is None:
            raise ContractError(
                "a prior_fake was set but this calibration records no base rate (fitted before it was "
                "recorded): re-run `deepfake evaluate` and `deepfake promote`, or set no prior"
            )
        return self.model_copy(update={"deploy_rate": prior_fake})

    def shift_threshold(self, threshold: float) -> float:
        """The threshold at the deployment's prior that makes the decisions the unshifted one makes (the
        shift is monotone: the same face is FAKE at the same calibrated odds ratio)."""
        if self.shift == 0.0:
            return threshold
        return float(1.0 / (1.0 + np.exp(-(logit(np.array(threshold)) + self.shift))))

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw ones (float32, same shape), at ``deploy_rate`` when set."""
        p = np.asarray(p, np.float64)
        if p.size == 0:
            return p.astype(np.float32)
        if self.method == "none":
            q = p
        elif self.method == "isotonic":
            q = np.interp(p, self.x, self.y)
        else:
            q = 1.0 / (1.0 + np.exp(-(self.slope * logit(p) + self.bias)))
        if self.shift:
            q = 1.0 / (1.0 + np.exp(-(logit(q) + self.shift)))
        return q.astype(np.float32)


IDENTITY = Calibration(method="none")


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


# --------------------------------------------------------------------------- evaluation metrics


class Confusion(Contract):
    tn: int
    fp: int
    fn: int
    tp: int


class Interval(Contract):
    """A bootstrap 95% interval (2.5th and 97.5th percentile of the resampled metric)."""

    low: float
    high: float


class BinaryMetrics(Contract):
    """Every metric of :data:`FRAME_METRICS` at one threshold, with the counts behind them."""

    auc: float
    log_loss: float  # on probabilities clipped to evaluate.clip
    balanced_accuracy: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    threshold: float
    n: int
    n_fake: int
    n_real: int
    confusion: Confusion
    # bootstrap intervals, resampling whole videos (evaluate.bootstrap_resamples); empty when not computed
    intervals: dict[MetricName, Interval] = Field(default_factory=dict)

    def value(self, metric: MetricName) -> float:
        return float(getattr(self, metric))


class VideoMetrics(BinaryMetrics):
    aggregation: Literal["mean", "confident"]  # evaluate.video_aggregation, applied to each person


class OperatingPoint(Contract):
    """A threshold chosen on val so at most ``target_fpr`` of the REAL val units (faces or videos) are
    called FAKE, and what it gives on test."""

    level: Literal["frame", "video"] = "frame"
    target_fpr: float
    threshold: float
    val_fpr: float
    test_fpr: float
    test_recall: float


class CalibrationQuality(Contract):
    """How well calibrated P(FAKE) states frequencies on test: at the data's own FAKE share and on a
    class-balanced view (the prior shifted to 0.5 by :meth:`Calibration.at_prior`, each class weighted
    to half the total), so a model is not judged calibrated only at its training prior."""

    base_rate: float  # share of FAKE among the test crops
    ece: float
    log_loss: float
    ece_balanced: float
    log_loss_balanced: float
    ece_uncalibrated: float
    log_loss_uncalibrated: float


class DatasetMetrics(Contract):
    """One dataset of the test split (the manifest's ``dataset`` column, else ``source``): each level
    holding both classes, at the val-chosen thresholds, with bootstrap intervals."""

    n_videos: int
    frame: BinaryMetrics | None  # None: this dataset's test rows hold one class only
    person: BinaryMetrics | None
    video: BinaryMetrics | None
    # at the video operating point's threshold (what promote.serve_threshold: video_fpr serves), per dataset:
    # the pooled rate can meet its target while a small dataset's real people are all called FAKE
    real_videos: int = 0
    real_videos_flagged: float | None = None  # share of its REAL test clips called FAKE (None: no REAL clip)
    fake_videos_caught: float | None = None  # share of its FAKE test clips called FAKE (None: no FAKE clip)


class ModelMetrics(Contract):
    """``metrics/<model>.json``: one model on the test split (evaluate writes it; gate, promote and
    report read it; promote copies it into the release's ``record.json``).

    Frame = one face crop; person = one face track of a video aggregated with evaluate's clip rule;
    video = the clip scored as its fakest deciding person (what serving answers). Thresholds,
    calibration and operating points are chosen on val, never on test."""

    model: str
    family: ModelFamily
    train_seconds: float
    threshold: float  # the served cut on calibrated P(FAKE) (evaluate.threshold_rule on val faces)
    calibration: Calibration
    calibration_quality: CalibrationQuality
    frame: BinaryMetrics
    person: BinaryMetrics
    video: VideoMetrics  # at evaluate.video_aggregation
    video_by_rule: dict[Literal["mean", "confident"], BinaryMetrics]
    operating_point: OperatingPoint  # faces: at most evaluate.target_fpr of REAL val faces flagged
    video_operating_point: OperatingPoint  # videos: at most evaluate.target_video_fpr of REAL val clips
    by_source: dict[Literal["old", "feedback"], BinaryMetrics]  # frame level; the release rule weighs "old"
    by_dataset: dict[str, DatasetMetrics]
    input_size: int | None = None  # the crop side the model reads (None: metrics written before it was kept)
    infer_img_s: float | None = None  # test crops per second through the model's predict call (images read
    # beforehand; an ensemble pays every member), on the machine evaluate ran on

    def level(self, level: Literal["frame", "person", "video"]) -> BinaryMetrics:
        return {"frame": self.frame, "person": self.person, "video": self.video}[level]

    def value(self, metric: MetricName, level: Literal["frame", "person", "video"]) -> float:
        """``metric`` at ``level``; :class:`ContractError` when it is not finite."""
        v = self.level(level).value(metric)
        if not np.isfinite(v):
            raise ContractError(f"model {self.model}: {level} {metric} is not finite ({v})")
        return v


# --------------------------------------------------------------------------- unfamiliar media


class OodFit(Contract):
    """Is a face like the training faces? The Mahalanobis distance of its embedding (the promoted PCA
    projection of the pooled features) from the training embeddings' mean under their shrunk
    covariance, fitted at promotion; ``threshold`` is the ``quantile`` of the same distance on val
    crops, so about 1 − quantile of faces like the held-out data are past it."""

    mean: list[float]
    precision: list[list[float]]  # inverse covariance (Ledoit-Wolf shrinkage)
    threshold: float
    quantile: float
    n_fit: int  # training crops
    n_threshold: int  # val crops

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """Distance of each embedding (N, E) from the training distribution (float, (N,))."""
        z = np.asarray(embeddings, np.float64).reshape(len(embeddings), -1)
        if z.shape[1] != len(self.mean):
            raise ContractError(f"ood: embeddings of {z.shape[1]} dims, fitted on {len(self.mean)}")
        d = z - np.asarray(self.mean)
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, np.asarray(self.precision), d), 0.0))


class CompressionFit(Contract):
    """Is a clip compressed like the training clips? ``floor`` is the ``quantile`` of the bits per pixel
    (:attr:`media.video.VideoInfo.bits_per_pixel`) of the training split's clips, fitted at promotion:
    a clip carrying fewer bits is compressed harder than the model has evidence about (heavy
    re-encoding smooths away the traces it reads, while its faces' embeddings stay familiar)."""

    floor: float
    quantile: float
    n_clips: int  # training clips the floor was fitted on

    def too_compressed(self, bits_per_pixel: float | None) -> bool | None:
        """Whether a clip is below the floor (None: an image, or a header without a bit rate)."""
        return None if bits_per_pixel is None else bits_per_pixel < self.floor


# --------------------------------------------------------------------------- live evaluation and shadow scoring


class Rate(Contract):
    """A proportion ``k`` of ``n`` with its Wilson 95% interval: honest at any n (wide when n is small);
    every figure None when n is 0."""

    k: int
    n: int
    value: float | None
    low: float | None
    high: float | None


class LiveSlice(Contract):
    """One served model version over one ISO week (``week`` None: every week of the window) judged on
    the reviewers' labels: the reviewer is the truth, the model's verdict the prediction."""

    model_tag: str
    week: str | None  # ISO week of serving, e.g. 2026-W49
    n: int  # labelled items
    n_fake: int  # reviewers said FAKE
    n_real: int
    thresholds: list[float]  # the version's threshold(s) the verdicts were taken at
    confusion: Confusion  # reviewer (truth) vs model (prediction)
    precision: Rate  # of the items the model called FAKE, the share reviewers call FAKE
    recall: Rate  # of the reviewers' FAKE items, the share the model called FAKE
    fpr: Rate  # of the reviewers' REAL items, the share the model called FAKE
    accuracy: Rate
    auc: float | None  # None: one class only, or n too small
    ece: float | None  # None: n too small
    too_small: bool  # n < live.min_n: AUC and ECE withheld, rates only with their intervals
    note: str | None = None


class LiveItem(Contract):
    """A labelled item on which the reviewer and the model disagree."""

    id: str  # review item id
    request_id: str
    file: str | None
    model_tag: str
    week: str
    score: float  # the request's P(FAKE) as served
    threshold: float | None
    model: Literal["REAL", "FAKE"]
    reviewer: Literal["REAL", "FAKE"]
    note: str | None = None


class LiveResult(Contract):
    """``deepfake eval live``: the served versions on the reviewers' labels joined to the request log."""

    created: str
    start: str  # serving time window, ISO-8601 UTC
    end: str
    min_n: int
    n_labels: int  # labelled items found (feedback dataset and review queue)
    n_in_log: int  # of those evaluated, found in the request log by request id
    n_evaluated: int  # labelled items served inside the window
    versions: list[LiveSlice]  # one per model tag, every week together
    weeks: list[LiveSlice]  # one per model tag and ISO week
    disagreements: list[LiveItem]
    report_html: str | None = None
    report_json: str | None = None


class ShadowItem(Contract):
    """A kept request re-scored by the candidate and the served model."""

    id: str
    request_id: str
    file: str
    time: str
    label: Literal["REAL", "FAKE"] | None  # the reviewer's, where known
    served: float | None  # the request's P(FAKE) by the served model (None when none is served)
    candidate: float
    served_verdict: Literal["REAL", "FAKE"] | None
    candidate_verdict: Literal["REAL", "FAKE"]


class ShadowModel(Contract):
    """One side of a shadow run: a model and its figures on the labelled items."""

    tag: str
    threshold: float
    value: float | None  # ShadowResult.metric on the labelled items (None when there are none)
    labelled: BinaryMetrics | None  # every metric, when the labelled items hold both classes


class ShadowResult(Contract):
    """``deepfake shadow``: what a candidate would change on recent traffic (the review queue's crops)."""

    created: str
    start: str  # items kept since this time (promote.shadow_days)
    n_items: int
    n_labelled: int
    metric: str  # promote.metric when the labelled items hold both classes, else accuracy
    candidate: ShadowModel
    served: ShadowModel | None  # None when no model is served
    agreement: float | None  # share of items with the same verdict (None: nothing served or no items)
    flips: list[ShadowItem]  # items whose verdict would change
    loss: float | None  # how much ``metric`` the candidate loses to the served model (negative: a gain)
    max_regression: float
    passed: bool  # loss <= max_regression (or nothing to compare)
    reason: str
