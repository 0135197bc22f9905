"""One kept request of the review queue (``<serve.review.dir>/<id>/item.json``) and its face crops."""

from __future__ import annotations

from typing import Literal

from deepfake_detect.contracts.base import Contract

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
