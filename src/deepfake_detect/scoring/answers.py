"""Scored faces → the answer a client gets (:class:`result.ScoreResult`): per face, per
frame, per person and for the file, each labelled at the promoted threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from deepfake_detect.faces.clip import FaceCrop
from deepfake_detect.models.aggregate import PersonScore
from deepfake_detect.scoring.result import (
    FaceScore,
    FrameScore,
    MediaInfo,
    PersonVerdict,
    ScoreResult,
    UnfamiliarReason,
    Verdict,
)

if TYPE_CHECKING:
    from deepfake_detect.scoring.result import ModelInfo

FAKE: Verdict = "FAKE"
REAL: Verdict = "REAL"
NO_FACE: Verdict = "NO_FACE"


def unfamiliar(face: FaceCrop, info: ModelInfo) -> bool | None:
    """Whether a face is past the model's unfamiliar-media threshold (None: no OOD fit or score)."""
    if info.ood is None or face.ood_score is None:
        return None
    return face.ood_score > info.ood.threshold


def unfamiliar_share(faces: list[FaceCrop], info: ModelInfo) -> float | None:
    """Share of the faces past the OOD threshold (None when none could be judged)."""
    flags = [u for f in faces if (u := unfamiliar(f, info)) is not None]
    return sum(flags) / len(flags) if flags else None


def too_compressed(media: MediaInfo, info: ModelInfo) -> bool | None:
    """Whether a clip is below the release's bits-per-pixel floor (None: an image, a header without a
    bit rate, or a release without a :class:`CompressionFit`)."""
    return None if info.compression is None else info.compression.too_compressed(media.bits_per_pixel)


def unfamiliar_reasons(
    share: float | None, media: MediaInfo, info: ModelInfo, max_share: float
) -> list[UnfamiliarReason] | None:
    """Why a file is unlike the training data: ``faces`` when more than ``max_share`` of its faces
    are past the OOD threshold (one odd frame does not decide), ``compression`` when a clip carries
    fewer bits per pixel than the release's training clips; None when neither could be judged."""
    compressed = too_compressed(media, info)
    if share is None and compressed is None:
        return None
    reasons: list[UnfamiliarReason] = []
    if share is not None and share > max_share:
        reasons.append("faces")
    if compressed:
        reasons.append("compression")
    return reasons


def verdict(probability: float | None, threshold: float) -> Verdict:
    """FAKE at or over the threshold, REAL under it, NO_FACE when nothing was scored."""
    if probability is None:
        return NO_FACE
    return FAKE if probability >= threshold else REAL


@dataclass(frozen=True)
class Answered:
    """What scoring found in one file, before it is put into words."""

    kind: Literal["video", "image"]
    name: str
    media: MediaInfo
    frames: list[int | None]  # every sampled frame (None for an image)
    faces: list[FaceCrop]
    people: list[PersonScore]
    probability: float | None
    request_id: str
    heatmaps: dict[int, str]  # face index → base64 PNG


def answer(a: Answered, info: ModelInfo, timings: dict[str, float], unfamiliar_share_max: float) -> ScoreResult:
    """The :class:`ScoreResult` of one file: what the service and the CLI send (``unfamiliar_share_max``:
    serve.unfamiliar_share)."""
    thr = info.threshold
    by_frame: dict[int | None, list[int]] = {fr: [] for fr in a.frames}
    for i, f in enumerate(a.faces):
        by_frame.setdefault(f.frame, []).append(i)
    frames = []
    for fr, idx in by_frame.items():
        faces = [face_score(a.faces[i], info, a.heatmaps.get(i)) for i in idx]
        top = max((a.faces[i].probability for i in idx), default=None)
        frames.append(FrameScore(frame=fr, probability=None if top is None else round(top, 6), faces=faces))
    video = a.kind == "video"
    share = unfamiliar_share(a.faces, info)
    reasons = unfamiliar_reasons(share, a.media, info, unfamiliar_share_max)
    return ScoreResult(
        file=a.name,
        kind=a.kind,
        label=verdict(a.probability, thr),
        probability=None if a.probability is None else round(a.probability, 6),
        threshold=thr,
        faces_found=len(a.faces),
        frames_sampled=len([fr for fr in a.frames if fr is not None]) if video else None,
        frames_with_faces=len({f.frame for f in a.faces}) if video else None,
        model_tag=info.tag,
        bento_tag=info.bento_tag,
        media=a.media,
        people=[person_verdict(p, a.faces, thr) for p in a.people],
        frames=frames,
        request_id=a.request_id,
        timings=timings,
        unfamiliar=None if reasons is None else bool(reasons),
        unfamiliar_share=None if share is None else round(share, 4),
        unfamiliar_reasons=reasons or [],
    )


def face_score(f: FaceCrop, info: ModelInfo, heatmap: str | None) -> FaceScore:
    return FaceScore(
        face=f.face,
        person=f.person,
        box=list(f.box),
        confidence=f.confidence,
        probability=round(f.probability, 6),
        label=verdict(f.probability, info.threshold),
        ood_score=None if f.ood_score is None else round(f.ood_score, 4),
        unfamiliar=unfamiliar(f, info),
        heatmap_png=heatmap,
    )


def person_verdict(person: PersonScore, faces: list[FaceCrop], threshold: float) -> PersonVerdict:
    boxes = np.array([f.box for f in faces if f.person == person.person])
    return PersonVerdict(
        person=person.person,
        probability=round(person.probability, 6),
        label=verdict(person.probability, threshold),
        frames=person.frames,
        deciding=person.deciding,
        box=[int(v) for v in np.median(boxes, axis=0).round()],  # where the person mostly is
    )
