"""Face tracks: a clip's faces linked across its sampled frames into people.

DFDC often swaps one of two people in a clip; pooling every face into one score dilutes the fake
person with the real one. Linking faces frame to frame (box overlap, else a small centre shift)
gives each person a track; each track is scored with the clip rule of :mod:`.aggregate`, and the
clip is as fake as its fakest person. Extract writes the track as the manifest's ``person``, so
evaluate scores videos with the same rule serving uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from deepfake_detect.faces.box import Face


@dataclass(frozen=True)
class TrackRule:
    """When a face continues a track (``extract.track_min_iou`` / ``track_max_shift``)."""

    min_iou: float
    max_shift: float


def iou(a: Face, b: Face) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def shift(a: Face, b: Face) -> float:
    """Centre distance in units of the larger box side."""
    dx = (a.x + a.w / 2) - (b.x + b.w / 2)
    dy = (a.y + a.h / 2) - (b.y + b.h / 2)
    return (dx * dx + dy * dy) ** 0.5 / max(a.w, a.h, b.w, b.h, 1)


def link(frames: Sequence[Sequence[Face]], rule: TrackRule) -> list[list[int]]:
    """Person ids (0, 1, ...) for every face of every frame, frames in clip order.

    Greedy matching on each frame: the pair (track, face) that overlaps most goes first, each
    track takes at most one face per frame, and a face matching no track starts a new one. A
    track is compared with its last box, so a person who moves slowly across the clip stays one
    person; people are numbered in order of first appearance."""
    last: list[Face] = []  # track id -> its latest box
    out: list[list[int]] = []
    for faces in frames:
        ids = [-1] * len(faces)
        pairs = []
        for t, prev in enumerate(last):
            for k, face in enumerate(faces):
                overlap, moved = iou(prev, face), shift(prev, face)
                if overlap >= rule.min_iou or moved <= rule.max_shift:
                    pairs.append((-overlap, moved, t, k))
        taken: set[int] = set()
        for _, _, t, k in sorted(pairs):
            if t not in taken and ids[k] < 0:
                ids[k] = t
                taken.add(t)
        for k, face in enumerate(faces):
            if ids[k] < 0:
                ids[k] = len(last)
                last.append(face)
            else:
                last[ids[k]] = face
        out.append(ids)
    return out
