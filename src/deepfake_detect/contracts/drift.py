"""What a drift run decides (:class:`DriftResult`: ``drift-<time>.json``, ``latest.json``; the monitor
DAG's Asset event carries its summary), with the window's traffic unlike the training data."""

from __future__ import annotations

from typing import Any, Literal

from deepfake_detect.contracts.base import Contract

Signal = Literal["columns", "embedding", "prediction"]


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
