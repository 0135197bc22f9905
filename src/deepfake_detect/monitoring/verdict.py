"""The drift comparison in three steps: build the Evidently report, read its snapshot, decide.

* :func:`build_report`  the metrics asked of Evidently 0.7 (``DataDriftPreset`` over the image
  statistics, ``ValueDrift`` on P(FAKE), ``EmbeddingsDrift`` for the HTML picture), and the
  metric objects whose results the verdict needs (:class:`Asked`);
* :func:`read_snapshot` those results, found in ``snapshot.dict()`` by each metric's own
  fingerprint (the id Evidently gives it), never by matching its internal type names; the part of
  the snapshot read is a typed model, so an Evidently release that changes it fails here, loudly
  (``tests/monitoring/test_evidently_snapshot.py`` pins the format on a saved snapshot);
* :func:`verdict`       which signals fire and whether that is drift, as a :class:`DriftResult`.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from deepfake_detect.config import DriftParams
from deepfake_detect.contracts.drift import ColumnDrift, DriftResult, MeanProbability
from deepfake_detect.errors import DeepfakeError

PROBABILITY = "probability"
EMBEDDING = "embedding"
SIGNALS = ("columns", "embedding", "prediction")
TSNE_MIN_ROWS = 30  # Evidently's embedding widget runs sklearn's t-SNE with perplexity 30


class SnapshotFormatError(DeepfakeError, RuntimeError):
    """Evidently's snapshot does not hold what the verdict reads (an Evidently upgrade changed it)."""


# --------------------------------------------------------------------------- 1. build


@dataclass(frozen=True)
class Asked:
    """The metric objects whose results the verdict reads (their fingerprints find them)."""

    share: Any  # DriftedColumnsCount over drift.columns
    columns: dict[str, Any]  # ValueDrift per image-statistic column
    prediction: Any  # ValueDrift on P(FAKE)


def asked_metrics(dp: DriftParams) -> Asked:
    """The metrics ``DataDriftPreset`` and ``ValueDrift`` compute for these settings."""
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    return Asked(
        share=DriftedColumnsCount(
            columns=list(dp.columns),
            drift_share=dp.drift_share,
            num_method=dp.column_method,
            num_threshold=dp.column_threshold,
        ),
        columns={c: ValueDrift(column=c, method=dp.column_method, threshold=dp.column_threshold) for c in dp.columns},
        prediction=ValueDrift(column=PROBABILITY, method=dp.prediction_method, threshold=dp.prediction_threshold),
    )


def embedding_method(dp: DriftParams):
    """The Evidently embedding drift method named in params."""
    from evidently.metrics.embeddings import DistanceDriftMethod, MMDDriftMethod, ModelDriftMethod, RatioDriftMethod

    kwargs: dict[str, Any] = {}
    if dp.embedding_threshold is not None:
        kwargs["threshold"] = dp.embedding_threshold
    if dp.embedding_pca:
        kwargs["pca_components"] = dp.embedding_pca
    if dp.embedding_method == "ratio":
        return RatioDriftMethod(**kwargs)
    cls = {"mmd": MMDDriftMethod, "model": ModelDriftMethod, "distance": DistanceDriftMethod}[dp.embedding_method]
    return cls(bootstrap=dp.embedding_bootstrap, quantile_probability=dp.embedding_quantile, **kwargs)


def build_report(dp: DriftParams, embedding_picture: bool):
    """The Evidently report (with its tests) for these settings, and what the verdict reads of it.

    ``embedding_picture`` adds ``EmbeddingsDrift``: its widget is a t-SNE of both sides (slow on a
    CPU; perplexity 30 needs more rows than that); the verdict does not depend on it."""
    from evidently import Report
    from evidently.metrics import ValueDrift
    from evidently.metrics.embeddings import EmbeddingsDrift
    from evidently.presets import DataDriftPreset

    asked = asked_metrics(dp)
    metrics: list[Any] = [
        DataDriftPreset(
            columns=list(dp.columns),
            drift_share=dp.drift_share,
            num_method=dp.column_method,
            num_threshold=dp.column_threshold,
        ),
        ValueDrift(column=PROBABILITY, method=dp.prediction_method, threshold=dp.prediction_threshold),
    ]
    if embedding_picture:
        metrics.append(EmbeddingsDrift(embeddings_name=EMBEDDING, drift_method=embedding_method(dp)))
    return Report(metrics, include_tests=True), asked


# --------------------------------------------------------------------------- 2. read


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Share(_Read):
    count: float
    share: float


class _Metric(_Read):
    id: str
    value: float | _Share


class _TestMetric(_Read):
    metric_id: str


class _Test(_Read):
    metric_config: _TestMetric
    status: Literal["SUCCESS", "FAIL", "WARNING", "ERROR"]


class _Snapshot(_Read):
    metrics: list[_Metric]
    tests: list[_Test]


@dataclass(frozen=True)
class Figures:
    """What the snapshot says: the drifted share, each column's test, the P(FAKE) test."""

    share: float
    columns: dict[str, ColumnDrift]
    prediction: ColumnDrift


def read_snapshot(summary: dict[str, Any], asked: Asked) -> Figures:
    """The results of the ``asked`` metrics in ``snapshot.dict()``; :class:`SnapshotFormatError`
    when the snapshot is not in the format read here (naming the installed Evidently version)."""
    try:
        snap = _Snapshot.model_validate(summary)
    except ValidationError as exc:
        raise _format_error(f"unexpected snapshot layout: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
    values = {m.id: m.value for m in snap.metrics}
    failed = {t.metric_config.metric_id: t.status == "FAIL" for t in snap.tests}

    def result(metric, kind: type, label: str) -> Any:
        fingerprint = metric.get_fingerprint()
        if fingerprint not in values or not isinstance(values[fingerprint], kind):
            raise _format_error(f"no {kind.__name__} result of {label} (metric id {fingerprint})")
        return values[fingerprint]

    def test(metric, label: str) -> ColumnDrift:
        if metric.get_fingerprint() not in failed:
            raise _format_error(f"no test result of {label} (metric id {metric.get_fingerprint()})")
        return ColumnDrift(score=result(metric, float, label), drifted=failed[metric.get_fingerprint()])

    return Figures(
        share=result(asked.share, _Share, "DriftedColumnsCount").share,
        columns={c: test(m, f"ValueDrift({c})") for c, m in asked.columns.items()},
        prediction=test(asked.prediction, f"ValueDrift({PROBABILITY})"),
    )


def _format_error(what: str) -> SnapshotFormatError:
    version = importlib.metadata.version("evidently")
    return SnapshotFormatError(f"Evidently {version} snapshot: {what} (the drift verdict reads Evidently 0.7's)")


# --------------------------------------------------------------------------- 3. decide


def verdict(
    figures: Figures,
    embedding: tuple[float | None, bool],
    dp: DriftParams,
    base: dict[str, Any],
    mean_probability: MeanProbability,
    embedding_dims: int,
) -> DriftResult:
    """Which signals fire (columns share, embedding test, P(FAKE) test) and whether that is drift."""
    emb_score, emb_drift = embedding
    fired = {
        "columns": figures.share >= dp.drift_share,
        "embedding": emb_drift,
        "prediction": figures.prediction.drifted,
    }
    signals = [s for s in SIGNALS if fired[s]]
    return DriftResult(
        **base,
        **_settings(dp),
        status="ok",
        drift_detected=len(signals) >= dp.min_signals,
        signals=signals,
        share_drifted_columns=figures.share,
        drifted_columns=[c for c, v in figures.columns.items() if v.drifted],
        columns=figures.columns,
        embedding_drift_score=emb_score,
        embedding_drift=emb_drift,
        embedding_dims=embedding_dims,
        prediction_drift=figures.prediction.drifted,
        prediction_drift_score=figures.prediction.score,
        mean_probability=mean_probability,
        message=None,
    )


def insufficient(dp: DriftParams, base: dict[str, Any]) -> DriftResult:
    """No test runs on a window smaller than ``drift.min_rows``: no verdict, a message saying why."""
    return DriftResult(
        **base,
        **_settings(dp),
        status="insufficient_data",
        drift_detected=False,
        signals=[],
        share_drifted_columns=None,
        drifted_columns=[],
        columns={},
        embedding_drift_score=None,
        embedding_drift=None,
        embedding_dims=None,
        prediction_drift=None,
        prediction_drift_score=None,
        mean_probability=None,
        message=f"{base['n_current']} faces in the window, fewer than drift.min_rows={dp.min_rows}",
    )


def _settings(dp: DriftParams) -> dict[str, Any]:
    return {
        "min_signals": dp.min_signals,
        "drift_share": dp.drift_share,
        "column_method": dp.column_method,
        "embedding_method": dp.embedding_method,
        "prediction_method": dp.prediction_method,
        "report_html": None,
        "report_json": None,
    }
