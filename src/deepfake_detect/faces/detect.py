"""Face detection and cropping, shared by extract (training) and serving (scoring).

Detectors run offline: BlazeFace full-range (:mod:`.blazeface`, the default: ~10x cheaper than
MTCNN for the same faces), MTCNN from the ``mtcnn`` wheel (weights ship inside it) or OpenCV's Haar
cascade. Large frames are downscaled, aspect ratio kept, before detection (a squashed portrait
frame hides faces), and boxes are mapped back to original pixels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

from deepfake_detect.config import ExtractParams
from deepfake_detect.faces.box import Detector, Face, canvas_pad, on_canvas
from deepfake_detect.media.images import shrink_size


def downscale(rgb: np.ndarray, max_side: int, made: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Shrink so the long side is <= max_side, keeping the aspect ratio; returns (image, scale).
    ``made``: the same shrink already made by the video decoder (:class:`media.SampledFrame`), used
    when it has the size :func:`media.images.shrink_size` gives (it costs a third of a resize here)."""
    h, w = rgb.shape[:2]
    sw, sh, scale = shrink_size(w, h, max_side)
    if scale >= 1.0:
        return rgb, 1.0
    if made is not None and made.shape[:2] == (sh, sw):
        return made, scale
    return cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA), scale


def _pyramid_without_small_levels(build):
    """mtcnn 1.0.0 counts pyramid levels from the image size alone, so with ``min_face_size`` > ~22
    its last levels shrink the image below PNet's 12-px window and detection crashes (Conv2D
    "empty output"). Dropping exactly those levels changes nothing else."""

    def build_scale_pyramid(width, height, min_face_size, scale_factor, min_size=12):
        scales = build(width, height, min_face_size, scale_factor, min_size)
        return scales[min(width, height) * scales >= min_size]

    build_scale_pyramid.drops_small_levels = True
    return build_scale_pyramid


class MTCNNDetector:
    """MTCNN (Zhang et al. 2016) from the ``mtcnn`` package; TensorFlow on the CPU or GPU."""

    name = "mtcnn"
    crop_canvas = 1.0  # finds faces that fill the image

    def __init__(self):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from mtcnn import MTCNN  # heavy (TensorFlow): imported only when a detector is built
        from mtcnn.stages import stage_pnet

        if not getattr(stage_pnet.build_scale_pyramid, "drops_small_levels", False):
            stage_pnet.build_scale_pyramid = _pyramid_without_small_levels(stage_pnet.build_scale_pyramid)
        self._mtcnn = MTCNN()

    def detect(self, rgb: np.ndarray, min_size: int) -> list[Face]:
        """Faces in an RGB image; ``min_size`` (pixels) bounds the pyramid: larger = faster."""
        return self.detect_batch([rgb], min_size)[0]

    def detect_batch(self, images: list[np.ndarray], min_size: int) -> list[list[Face]]:
        """One MTCNN call for same-sized images: 4-5x cheaper per image than one call each on a CPU."""
        if not images:
            return []
        batch = [np.ascontiguousarray(im) for im in images]
        found = self._mtcnn.detect_faces(batch if len(batch) > 1 else batch[0], min_face_size=min_size)
        per_image = found if len(batch) > 1 else [found]
        return [
            [Face(*(int(v) for v in d["box"]), confidence=float(d["confidence"])) for d in faces] for faces in per_image
        ]


class HaarDetector:
    """OpenCV's frontal-face Haar cascade: fast, weaker on profiles; confidence is a squashed
    level weight so the same ``min_confidence`` knob applies."""

    name = "haar"
    crop_canvas = 1.0

    def __init__(self):
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"{path}: OpenCV Haar cascade failed to load")

    def detect(self, rgb: np.ndarray, min_size: int) -> list[Face]:
        side = max(1, min_size)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        boxes, _, weights = self._cascade.detectMultiScale3(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(side, side), outputRejectLevels=True
        )
        faces = []
        for (x, y, w, h), weight in zip(boxes, np.ravel(weights), strict=False):
            conf = float(1 / (1 + np.exp(-(float(weight) - 1.0))))
            faces.append(Face(int(x), int(y), int(w), int(h), conf))
        return faces

    def detect_batch(self, images: list[np.ndarray], min_size: int) -> list[list[Face]]:
        return [self.detect(im, min_size) for im in images]


def make_detector(name: str, threads: int | None = None) -> Detector:
    """The ``extract.detector`` named; ``threads`` caps BlazeFace's interpreter (None = every core;
    MTCNN follows TensorFlow's own thread settings). The smallest face it looks for is a call's
    ``min_size`` (:func:`find_faces_batch`: ``extract.min_detect_px``), never a default of its own."""
    if name == "blazeface":
        from deepfake_detect.faces.blazeface import BlazeFaceDetector

        return BlazeFaceDetector(threads)
    if name == "mtcnn":
        return MTCNNDetector()
    if name == "haar":
        return HaarDetector()
    raise ValueError(f"extract.detector: unknown detector {name!r} (use blazeface, mtcnn or haar)")


def face_settings(p: ExtractParams) -> dict[str, int | float]:
    """The ``extract`` params as :func:`find_faces` keywords: training, serving and monitoring find
    faces with exactly the same settings."""
    return {
        "max_side": p.detect_max_side,
        "min_confidence": p.face_threshold,
        "min_face_size": p.min_face_size,
        "max_faces": p.max_faces_per_frame,
        "min_detect_px": p.min_detect_px,
    }


def find_faces(
    detector: Detector,
    rgb: np.ndarray,
    *,
    max_side: int,
    min_confidence: float,
    min_face_size: int,
    max_faces: int,
    min_detect_px: int,
) -> list[Face]:
    """Detect on a downscaled copy, map boxes back, filter, keep the largest ``max_faces``."""
    return find_faces_batch(
        detector,
        [rgb],
        max_side=max_side,
        min_confidence=min_confidence,
        min_face_size=min_face_size,
        max_faces=max_faces,
        min_detect_px=min_detect_px,
    )[0]


def find_faces_batch(
    detector: Detector,
    images: list[np.ndarray],
    *,
    max_side: int,
    min_confidence: float,
    min_face_size: int,
    max_faces: int,
    min_detect_px: int,
    close_up_retry: bool = True,
    small: Sequence[np.ndarray | None] | None = None,
) -> list[list[Face]]:
    """:func:`find_faces` for many images; same-sized ones (a clip's frames) share one detector call.

    ``min_detect_px`` bounds the smallest face looked for *in detector pixels*: MTCNN's cost is
    dominated by its finest pyramid levels, and a face under ~20 px in the downscaled frame is
    mostly upsampling once cropped (20 instead of MTCNN's 12-px window halves the detection time
    on DFDC/FF++ clips with a face still found in every sampled frame).
    With ``close_up_retry``, an image where a detector that needs context (``crop_canvas`` > 1,
    BlazeFace) found no face is searched again on a canvas: a close-up selfie or a face photo.
    ``small``: per image, its downscale already made by the video decoder (or None)."""
    results: list[list[Face]] = [[] for _ in images]
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, im in enumerate(images):
        by_shape.setdefault(im.shape, []).append(i)
    for indices in by_shape.values():
        smalls = [downscale(images[i], max_side, small[i] if small else None) for i in indices]
        scale = smalls[0][1]
        floor = max(min_detect_px, round(min_face_size * scale))
        found = detector.detect_batch([s for s, _ in smalls], floor)
        for i, detections in zip(indices, found, strict=True):
            results[i] = _map_back(detections, images[i].shape, scale, min_confidence, min_face_size, max_faces)
        missed = [k for k, i in enumerate(indices) if not results[i]]
        if close_up_retry and detector.crop_canvas > 1 and missed:
            canvas = detector.crop_canvas
            pads = [canvas_pad(smalls[k][0].shape, canvas) for k in missed]
            again = detector.detect_batch([on_canvas(smalls[k][0], canvas) for k in missed], floor)
            for k, pad, detections in zip(missed, pads, again, strict=True):
                moved = [Face(f.x - pad, f.y - pad, f.w, f.h, f.confidence) for f in detections]
                i = indices[k]
                results[i] = _map_back(moved, images[i].shape, scale, min_confidence, min_face_size, max_faces)
    return results


def _map_back(
    detections: list[Face],
    shape: tuple[int, ...],
    scale: float,
    min_confidence: float,
    min_face_size: int,
    max_faces: int,
) -> list[Face]:
    """Boxes from detector pixels to original pixels, filtered, largest first."""
    H, W = shape[:2]
    faces = []
    for f in detections:
        x, y = max(0, round(f.x / scale)), max(0, round(f.y / scale))
        w = min(W - x, round(f.w / scale))
        h = min(H - y, round(f.h / scale))
        if f.confidence < min_confidence or min(w, h) < min_face_size:
            continue
        faces.append(Face(x, y, w, h, f.confidence))
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces[:max_faces]
