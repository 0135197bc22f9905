"""A face box and the crop geometry cut around it: the one definition extract, serving and drift share.

Nothing here detects anything: detectors (:mod:`.detect`, :mod:`.blazeface`) return these boxes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np


@dataclass(frozen=True)
class Face:
    """A detected face: box in original frame pixels, detector confidence in [0, 1]."""

    x: int
    y: int
    w: int
    h: int
    confidence: float

    @property
    def area(self) -> int:
        return self.w * self.h


class Detector(Protocol):
    name: str
    crop_canvas: float  # how many face sides of context the detector needs around a tight face crop

    def detect(self, rgb: np.ndarray, min_size: int) -> list[Face]: ...

    def detect_batch(self, images: list[np.ndarray], min_size: int) -> list[list[Face]]: ...


def on_canvas(crop: np.ndarray, canvas: float) -> np.ndarray:
    """A tight face crop centred on a black canvas ``canvas`` times its size, so a detector trained
    on faces in scenes (BlazeFace full-range finds 5% of deepfake-faces' crops as they are, 99.7%
    on a 3x canvas) sees the face at a scale it knows."""
    pad = canvas_pad(crop.shape, canvas)
    if not pad:
        return crop
    return cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)


def canvas_pad(shape: tuple[int, ...], canvas: float) -> int:
    """The border :func:`on_canvas` adds on each side of an image of ``shape`` (0 when ``canvas`` <= 1)."""
    return round((canvas - 1) / 2 * max(shape[:2])) if canvas > 1 else 0


def crop_window(face: Face, margin: float) -> Face:
    """The square window :func:`crop_face` cuts around a box: ``margin`` of the box's long side added
    on each side, centred on the box (may reach outside the frame)."""
    cx, cy = face.x + face.w / 2, face.y + face.h / 2
    side = max(face.w, face.h) * (1 + 2 * margin)
    return Face(round(cx - side / 2), round(cy - side / 2), round(side), round(side), face.confidence)


def crop_face(rgb: np.ndarray, face: Face, margin: float, size: int) -> np.ndarray:
    """Square crop around the box, ``margin`` of the box added on each side, resized to size².

    Out-of-frame parts are filled by edge replication, so a face at the border keeps its scale.
    """
    window = crop_window(face, margin)
    x0, y0 = window.x, window.y
    x1, y1 = x0 + window.w, y0 + window.h
    H, W = rgb.shape[:2]
    pad = max(0, -x0, -y0, x1 - W, y1 - H)
    if pad:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    crop = rgb[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)
