"""Frames → face crops → people: the one path a frame takes in extract (training), serving and drift.

A frame's faces are found on a downscaled copy (:func:`faces.find_faces_batch`, the ``extract``
params), cropped square with the same margin and size, and a clip's faces are linked into people
(:func:`tracks.link`). Training crops and serving crops therefore come from the same detector,
the same framing and the same person rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deepfake_detect.config import ExtractParams
from deepfake_detect.faces.box import Detector, crop_face
from deepfake_detect.faces.box import Face as Box
from deepfake_detect.faces.detect import face_settings, find_faces_batch
from deepfake_detect.faces.tracks import TrackRule, link
from deepfake_detect.media.sampler import SampledFrame

Frame = tuple[int | None, np.ndarray] | SampledFrame  # (frame index in the clip, or None for a still; RGB)


@dataclass
class FaceCrop:
    """One face of one frame: where it is, who it is, its crop; scoring fills the last three."""

    frame: int | None
    face: int  # index within its frame, largest face first
    box: tuple[int, int, int, int]  # x, y, w, h in original frame pixels
    confidence: float | None  # detector score (None for a ready crop no detector saw)
    crop: np.ndarray  # RGB, extract.crop_size square
    person: int = 0  # the face track within the clip (assign_people)
    probability: float = float("nan")
    embedding: np.ndarray | None = None
    ood_score: float | None = None  # distance from the training faces (None: the model has no OOD fit)


def detect_and_crop(detector: Detector, frames: Sequence[Frame], p: ExtractParams) -> list[FaceCrop]:
    """Every face of ``frames`` (same-sized frames share one detector call), cropped, frame order kept.
    A video's :class:`SampledFrame` brings the detector's shrink made by the decoder."""
    small = [f.small if isinstance(f, SampledFrame) else None for f in frames]
    found = find_faces_batch(detector, [rgb for _, rgb in frames], **face_settings(p), small=small)
    return [
        crop_of(rgb, index, k, box, p)
        for (index, rgb), boxes in zip(frames, found, strict=True)
        for k, box in enumerate(boxes)
    ]


def crop_of(rgb: np.ndarray, frame: int | None, face: int, box: Box, p: ExtractParams) -> FaceCrop:
    return FaceCrop(
        frame,
        face,
        (box.x, box.y, box.w, box.h),
        round(float(box.confidence), 5),
        crop_face(rgb, box, p.margin, p.crop_size),
    )


def in_original_pixels(faces: list[FaceCrop], decoded_width: int, width: int) -> list[FaceCrop]:
    """Boxes found on a frame the decoder downscaled (``extract.decode_max_side``) in the clip's own pixels."""
    if decoded_width != width:
        scale = width / decoded_width
        for f in faces:
            f.box = tuple(round(v * scale) for v in f.box)  # type: ignore[assignment]
    return faces


def assign_people(faces: list[FaceCrop], p: ExtractParams) -> list[FaceCrop]:
    """Set each face's ``person`` by linking the clip's faces frame to frame (:func:`tracks.link`)."""
    frames = sorted({f.frame for f in faces}, key=lambda fr: -1 if fr is None else fr)
    by_frame = {fr: [f for f in faces if f.frame == fr] for fr in frames}
    boxes = [[Box(*f.box, f.confidence or 0.0) for f in by_frame[fr]] for fr in frames]
    ids = link(boxes, TrackRule(p.track_min_iou, p.track_max_shift))
    for fr, frame_ids in zip(frames, ids, strict=True):
        for f, person in zip(by_frame[fr], frame_ids, strict=True):
            f.person = person
    return faces
