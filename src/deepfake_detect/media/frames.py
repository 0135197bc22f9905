"""A sampled frame and what it must be: the sampling settings (:class:`Sampling`), the size limits
(:class:`FrameLimits`), and the check and conversion of each decoded frame (:class:`FrameGuard`)
that :mod:`.sampler` applies before a frame costs memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from deepfake_detect.config import ExtractParams, ServeParams
from deepfake_detect.media.images import shrink_size
from deepfake_detect.media.video import VideoError, VideoInfo

Mode = Literal["nearest_reference", "exact"]


class FrameSizeError(VideoError):
    """A decoded frame refused for its size: ``kind`` is ``too_large``, ``size_changed`` or ``budget``."""

    def __init__(self, path: str | Path, kind: str, reason: str):
        self.kind = kind
        super().__init__(path, reason)


@dataclass(frozen=True)
class FrameLimits:
    """What a clip's decoded frames may be: per frame (``max_side``, ``max_pixels``) and in all."""

    max_side: int
    max_pixels: int
    max_total_pixels: int

    @classmethod
    def of(cls, serve: ServeParams) -> FrameLimits:
        return cls(serve.max_side, serve.max_pixels, serve.max_request_pixels)


@dataclass(frozen=True)
class Sampling:
    """How to sample a clip: how many frames, which decoding, the output size bound and the limits."""

    frames: int
    mode: Mode = "exact"
    max_side: int | None = None  # frames with a longer side are downscaled by the decoder
    limits: FrameLimits | None = None
    formats: Sequence[str] | None = None
    max_frames: int | None = None  # more packets than this raise TooManyFramesError
    detect_side: int | None = None  # each frame also shrunk by the decoder to this long side (the detector's)

    @classmethod
    def of(cls, ep: ExtractParams, frames: int, limits: FrameLimits | None, **kw) -> Sampling:
        return cls(frames, ep.sampling, ep.decode_max_side, limits, detect_side=ep.detect_max_side, **kw)


@dataclass(frozen=True)
class SampledFrame:
    """One sampled frame: its index in the clip, its RGB pixels and, when the sampling asks for it
    (``detect_side``), the decoder's shrink of it for the face detector (``faces.detect.downscale``)."""

    index: int
    rgb: np.ndarray
    small: np.ndarray | None = None

    def __iter__(self):
        """Unpacks as ``(index, rgb)``, the frame pair every consumer of the sampler reads."""
        return iter((self.index, self.rgb))


class FrameGuard:
    """Checks each decoded frame against the header and the limits, then converts it within the budget.

    One libswscale context per conversion for the whole clip (``VideoReformatter``): a frame's own
    ``reformat``/``to_ndarray`` builds a new one per frame, which costs as much as converting it."""

    def __init__(self, path: Path, info: VideoInfo, s: Sampling):
        self.path, self.info, self.s, self.used = path, info, s, 0
        self.decode_error: str | None = None
        self._to_rgb, self._to_small = VideoReformatter(), VideoReformatter()

    def check(self, frame: av.VideoFrame, index: int) -> None:
        w, h, lim = frame.width, frame.height, self.s.limits
        if lim is not None and (max(w, h) > lim.max_side or w * h > lim.max_pixels):
            raise FrameSizeError(
                self.path,
                "too_large",
                f"frame {index} decodes as {w}x{h}, over the limit "
                f"({lim.max_side} pixels per side, {lim.max_pixels} pixels in all)",
            )
        if (w, h) != (self.info.width, self.info.height):
            raise FrameSizeError(
                self.path,
                "size_changed",
                f"frame {index} decodes as {w}x{h} but the header says {self.info.width}x{self.info.height}",
            )

    def take(self, frame: av.VideoFrame, index: int) -> SampledFrame:
        """The frame converted within the budget, with the detector's shrink when asked for."""
        rgb = self.rgb(frame, index)
        if self.s.detect_side is None:
            return SampledFrame(index, rgb)
        h, w = rgb.shape[:2]
        sw, sh, scale = shrink_size(w, h, self.s.detect_side)
        if scale >= 1.0:
            return SampledFrame(index, rgb, rgb)
        small = self._to_small.reformat(frame, sw, sh, "rgb24", interpolation="AREA").to_ndarray()
        return SampledFrame(index, rgb, small)

    def rgb(self, frame: av.VideoFrame, index: int) -> np.ndarray:
        w, h = out_size(frame.width, frame.height, self.s.max_side)
        lim = self.s.limits
        if lim is not None and self.used + w * h > lim.max_total_pixels:
            raise FrameSizeError(
                self.path,
                "budget",
                f"frame {index} ({w}x{h}) would bring this clip to {self.used + w * h} decoded pixels, "
                f"over the {lim.max_total_pixels}-pixel budget",
            )
        self.used += w * h
        if (w, h) == (frame.width, frame.height):
            return self._to_rgb.reformat(frame, format="rgb24").to_ndarray()
        return self._to_rgb.reformat(frame, w, h, "rgb24", interpolation="AREA").to_ndarray()

    def refused(self, index: int) -> FrameSizeError:
        """FFmpeg refused to allocate a picture (``max_pixels``): the error for the client."""
        lim = self.s.limits
        assert lim is not None
        return FrameSizeError(
            self.path,
            "too_large",
            f"the decoder refused frame {index}: its picture is over the {lim.max_pixels}-pixel limit "
            f"(the header says {self.info.width}x{self.info.height})",
        )


def out_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """The decoded size: ``max_side`` on the long side at most, aspect kept, even sides when scaled."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)
