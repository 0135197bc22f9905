"""Uploads → faces: the media checks, then frames → faces → people through :mod:`.clipfaces`.

A video's frames decode in a thread (:class:`media.FrameDecoder`) while this thread finds faces in
the frames already decoded (and the scorer scores them), all stopping at the request's deadline; an
image is decoded within the request's pixel budget. The crops are those extract cuts for training.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from deepfake_detect.config import Params
from deepfake_detect.faces.clip import FaceCrop, Frame, assign_people, detect_and_crop, in_original_pixels
from deepfake_detect.faces.detect import make_detector
from deepfake_detect.media.checks import (
    Deadline,
    FrameDecoder,
    PixelBudget,
    ScoringError,
    check_file,
    probe_video,
    read_image,
    video_error,
)
from deepfake_detect.scoring.result import MediaInfo


@dataclass
class Timer:
    """Seconds per part of a request (decode_s, detect_s, model_s, ...) and its total."""

    t0: float = field(default_factory=time.perf_counter)
    parts: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, seconds: float) -> None:
        self.parts[key] = round(self.parts.get(key, 0.0) + seconds, 4)

    def done(self) -> dict[str, float]:
        return {**self.parts, "total_s": round(time.perf_counter() - self.t0, 4)}


class UploadFaces:
    """Finds the faces of uploaded files with the ``extract`` settings; one detector per process,
    built on first use and shared by the request threads (one detection at a time)."""

    def __init__(self, params: Params, detector: Any | None = None):
        self.params = params
        self._detector = detector
        self._detector_lock = threading.Lock()
        self._detect_lock = threading.Lock()

    @property
    def detector(self):
        with self._detector_lock:
            if self._detector is None:
                ep, sp = self.params.extract, self.params.serve
                self._detector = make_detector(ep.detector, threads=sp.detect_threads or None)
            return self._detector

    @property
    def max_bytes(self) -> int:
        return int(self.params.serve.max_upload_mb * 1e6)

    def warm_up(self) -> None:
        """Build the detector and run it once, so the first request does not pay for either."""
        self.faces_of([(None, np.zeros((360, 640, 3), np.uint8))], "warm-up", Deadline(self.params.serve.deadline_s))

    def faces_of(self, frames: list[Frame], name: str, deadline: Deadline) -> list[FaceCrop]:
        """Frames' faces found and cropped (:func:`clipfaces.detect_and_crop`, the path extract
        takes); a clip's same-sized frames share one detector call."""
        deadline.check(name, "detecting faces")
        detector = self.detector
        with self._detect_lock:  # one detection at a time: the detector already uses every core
            return detect_and_crop(detector, frames, self.params.extract)

    # ----- media → faces

    def video_faces(
        self,
        path: Path,
        name: str,
        timer: Timer,
        deadline: Deadline,
        on_crops: Callable[[list[FaceCrop]], None] | None = None,
    ) -> tuple[MediaInfo, list[int], list[FaceCrop]]:
        """Probe, then decode (a thread) and detect (here) at the same time, both stopping at the deadline.
        ``on_crops`` gets each ``serve.detect_batch`` of frames' new crops at once (the scorer scores
        them while the clip goes on decoding)."""
        from deepfake_detect.media.video import VideoError, sample_indices

        sp = self.params.serve
        check_file(path, name, self.max_bytes)
        info = probe_video(path, name, self.params)
        frames: list[int] = []
        crops: list[FaceCrop] = []
        pending: list[Frame] = []
        decoded_width = info.width  # less when the decoder downscaled (extract.decode_max_side)
        detect_s = 0.0
        decoder = FrameDecoder(path, self.params, deadline, name)
        try:
            for item in decoder:
                frames.append(item.index)
                decoded_width = item.rgb.shape[1]
                pending.append(item)
                if len(pending) >= sp.detect_batch:  # detect (and score) these while the decode thread goes on
                    detect_s += self._detect(pending, crops, name, deadline, on_crops)
                    pending = []
        except VideoError as exc:
            raise video_error(exc, name, self.params) from exc
        finally:
            decoder.stop()
        if pending:
            detect_s += self._detect(pending, crops, name, deadline, on_crops)
        wanted = len(sample_indices(info.frames, sp.frames_per_video))
        if len(frames) < 0.5 * wanted:
            raise ScoringError(
                422,
                "truncated_video",
                f"{name}: only {len(frames)} of the {wanted} sampled frames "
                f"decode (the header promises {info.frames} frames): truncated or damaged",
            )
        assign_people(in_original_pixels(crops, decoded_width, info.width), self.params.extract)
        timer.add("decode_s", decoder.seconds)
        timer.add("detect_s", detect_s)
        media = MediaInfo(
            width=info.width,
            height=info.height,
            fps=round(info.fps, 3),
            duration_s=round(info.duration_s, 3),
            codec=info.codec,
            frames=info.frames,
            bits_per_pixel=None if info.bits_per_pixel is None else round(info.bits_per_pixel, 6),
            aggregation=self.params.evaluate.video_aggregation,
        )
        return media, frames, crops

    def _detect(self, frames: list[Frame], crops: list[FaceCrop], name: str, deadline: Deadline, on_crops) -> float:
        """Add the faces of ``frames`` to ``crops``, hand them to ``on_crops``; the detection's seconds."""
        t = time.perf_counter()
        found = self.faces_of(frames, name, deadline)
        seconds = time.perf_counter() - t
        crops += found
        if on_crops is not None and found:
            on_crops(found)
        return seconds

    def image_faces(
        self, path: Path, name: str, crop: bool, timer: Timer, deadline: Deadline, budget: PixelBudget
    ) -> tuple[MediaInfo, list[FaceCrop]]:
        check_file(path, name, self.max_bytes)
        deadline.check(name, "waiting to decode")
        t = time.perf_counter()
        rgb, channels = read_image(path, name, self.params, budget)
        timer.add("decode_s", time.perf_counter() - t)
        meta = MediaInfo(width=int(rgb.shape[1]), height=int(rgb.shape[0]), channels=channels, ready_crop=crop)
        if crop:
            size = self.params.extract.crop_size
            interp = cv2.INTER_AREA if max(rgb.shape[:2]) > size else cv2.INTER_CUBIC
            face = cv2.resize(rgb, (size, size), interpolation=interp)
            return meta, [FaceCrop(None, 0, (0, 0, int(rgb.shape[1]), int(rgb.shape[0])), None, face)]
        deadline.check(name, "waiting to detect faces")
        t = time.perf_counter()
        faces = assign_people(self.faces_of([(None, rgb)], name, deadline), self.params.extract)  # one per face
        timer.add("detect_s", time.perf_counter() - t)
        return meta, faces
