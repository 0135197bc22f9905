"""Per-video aggregation of per-face probabilities: evaluate and serving use this one function,
so a clip gets the same score offline and in production."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["mean", "confident"]


def clip_probs(probs: np.ndarray, clip: tuple[float, float]) -> np.ndarray:
    """Clip probabilities into [lo, hi]: one confident mistake costs log loss without bound."""
    lo, hi = clip
    if not 0 <= lo < hi <= 1:
        raise ValueError(f"evaluate.clip: need 0 <= lo < hi <= 1, got {clip}")
    return np.clip(np.asarray(probs, dtype=np.float64), lo, hi)


def aggregate_video(
    probs: np.ndarray,
    clip: tuple[float, float] = (0.01, 0.99),
    method: Method = "confident",
    confident: float = 0.8,
    min_confident_share: float = 0.25,
) -> float:
    """One score per video from its faces' P(FAKE).

    ``mean``: the mean of clipped probabilities. ``confident`` (the rule of a DFDC top solution):
    when at least ``min_confident_share`` of faces are confidently fake (p > ``confident``),
    average only those, because a swap often fails on a few frames only; when nearly all faces
    (90%) are confidently real (p < 1 - ``confident``), average those; otherwise the plain mean.
    """
    p = clip_probs(probs, clip)
    if p.size == 0:
        raise ValueError("aggregate_video: a video with no scored faces has no score")
    if method == "mean":
        return float(p.mean())
    if method != "confident":
        raise ValueError(f"unknown aggregation method {method!r} (use mean or confident)")
    fake = p[p > confident]
    real = p[p < 1 - confident]
    if fake.size and fake.size >= min_confident_share * p.size:
        return float(fake.mean())
    if real.size >= 0.9 * p.size:
        return float(real.mean())
    return float(p.mean())


@dataclass(frozen=True)
class PersonScore:
    """One person (face track) of a clip: its aggregated P(FAKE) and the frames it is seen in."""

    person: int
    probability: float
    frames: int
    deciding: bool  # seen often enough (``evaluate.person_min_share``) to decide the clip


def people_scores(
    probs: np.ndarray,
    persons: np.ndarray,
    frames: np.ndarray,
    clip: tuple[float, float],
    method: Method,
    min_share: float,
) -> list[PersonScore]:
    """Each person's faces aggregated with :func:`aggregate_video`; a person seen in fewer than
    ``min_share`` of the frames of the clip's most-seen person is a stray detection (a poster, a
    false positive) that does not decide the clip."""
    probs, persons, frames = np.asarray(probs), np.asarray(persons), np.asarray(frames)
    if probs.size == 0:
        raise ValueError("people_scores: a video with no scored faces has no score")
    ids = sorted(set(persons.tolist()))
    seen = {p: len(set(frames[persons == p].tolist())) for p in ids}
    most = max(seen.values())
    return [
        PersonScore(int(p), aggregate_video(probs[persons == p], clip, method), seen[p], seen[p] >= min_share * most)
        for p in ids
    ]


def clip_probability(people: list[PersonScore]) -> float:
    """A clip is as fake as its fakest deciding person."""
    return max(p.probability for p in people if p.deciding)
