"""Served versions judged on the reviewers' labels (:class:`LiveResult`, ``deepfake eval live``) and what a
candidate would change on recent traffic (:class:`ShadowResult`, ``deepfake shadow``)."""

from __future__ import annotations

from typing import Literal

from deepfake_detect.contracts.base import Contract
from deepfake_detect.contracts.metrics import BinaryMetrics, Confusion


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
