"""The one frame sampler of serving, extract and drift: N evenly spaced frames of a clip, decoded
as little as possible, every decoded frame checked before it costs memory.

How the frames are decoded (``extract.sampling``):

* ``nearest_reference``: H.264/HEVC decode with ``skip_frame = NONREF`` (only the frames other
  frames are predicted from; about half of a typical clip, ~0.6x the decode time) and frame
  threads, and each evenly spaced index takes the nearest decoded frame (ties: the earlier). On
  the shared clips the frames taken are at most 1 frame from the evenly spaced ones.
* ``exact``: the evenly spaced indices exactly (every reference frame plus the sampled ones).
  Also used whatever the setting when the sampling is dense (fewer than :data:`MIN_SPACING`
  frames between samples: the reference frames alone would be too few).

Intra-only streams (MJPEG: every packet a keyframe) send the decoder only the sampled packets;
clips whose packet timestamps do not map one packet to one frame are decoded forward, every frame.

Hostile clips: FFmpeg's own ``max_pixels`` stops the decoder allocating a picture over
``serve.max_pixels``; a decoded frame larger than ``serve.max_side``/``max_pixels`` or of another
size than the header's is refused before it is converted; frames whose long side is over
``extract.decode_max_side`` are downscaled by the decoder (aspect kept) and never held full size;
and the RGB pixels a clip may hold in all (frames x width x height, after the downscale) are
capped by ``serve.max_request_pixels``. Each refusal is a :class:`FrameSizeError` naming the frame.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import numpy as np

from deepfake_detect.config import ExtractParams, ServeParams
from deepfake_detect.media.video import (
    TooManyFramesError,
    VideoError,
    VideoInfo,
    _ffmpeg_reason,
    _no_frames,
    _open,
    probe,
    sample_indices,
)

Mode = Literal["nearest_reference", "exact"]
MIN_SPACING = 4  # frames between samples below which nearest_reference decodes exactly (a B-pyramid run is <= 3)


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

    @classmethod
    def of(cls, ep: ExtractParams, frames: int, limits: FrameLimits | None, **kw) -> Sampling:
        return cls(frames, ep.sampling, ep.decode_max_side, limits, **kw)


class _Guard:
    """Checks each decoded frame against the header and the limits, then converts it within the budget."""

    def __init__(self, path: Path, info: VideoInfo, s: Sampling):
        self.path, self.info, self.s, self.used = path, info, s, 0
        self.decode_error: str | None = None

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
            return frame.to_ndarray(format="rgb24")
        return frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()

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


@dataclass
class _Packets:
    """The demux pass: each frame's presentation timestamp in order, and whether all are keyframes."""

    pts: list[int]
    intra_only: bool

    def usable(self, frames: int) -> bool:
        return bool(self.pts) and len(self.pts) == frames and len(set(self.pts)) == len(self.pts)


def _demux(path: Path, s: Sampling) -> _Packets:
    pts: list[int] = []
    intra_only = True
    with _open(path, s.formats) as container:
        try:
            for packet in container.demux(container.streams.video[0]):
                if packet.pts is not None and packet.size:
                    pts.append(packet.pts)
                    intra_only = intra_only and packet.is_keyframe
                if s.max_frames is not None and len(pts) > s.max_frames:
                    raise TooManyFramesError(path, f"more than the {s.max_frames}-frame limit")
        except (av.error.FFmpegError, ValueError):
            return _Packets([], False)
    return _Packets(sorted(pts), intra_only)


def iter_sample_frames(path: str | Path, s: Sampling) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame index, RGB uint8 array)`` for ``s.frames`` evenly spaced frames, yielded as they decode.

    A truncated clip yields the frames before the damage; a clip where nothing decodes raises
    :class:`VideoError`; a frame refused for its size raises :class:`FrameSizeError`."""
    path = Path(path)
    info = probe(path, s.formats)
    packets = _demux(path, s)
    wanted = sample_indices(info.frames, s.frames)
    guard = _Guard(path, info, s)
    if not packets.usable(info.frames):
        yield from _take_exact(_decode(path, s, guard, None, None), wanted, guard)
        return
    index_of = {p: i for i, p in enumerate(packets.pts)}
    wanted_pts = {packets.pts[i] for i in wanted}
    if packets.intra_only:  # every packet decodes alone: send only the sampled ones
        yield from _take_exact(
            _decode(path, s, guard, index_of, lambda p: "DEFAULT" if p in wanted_pts else None), wanted, guard
        )
    elif s.mode == "exact" or info.frames < MIN_SPACING * len(wanted):
        skip = lambda p: "DEFAULT" if p in wanted_pts else "NONREF"  # noqa: E731
        yield from _take_exact(_decode(path, s, guard, index_of, skip), wanted, guard)
    else:
        yield from _take_nearest(_decode(path, s, guard, index_of, "NONREF"), wanted, guard)


def _decode(path, s: Sampling, guard: _Guard, index_of, skip) -> Iterator[tuple[int, av.VideoFrame]]:
    """Decoded frames with their clip index, each checked by ``guard``. ``skip`` is a ``skip_frame``
    value for every packet, or ``skip(pts)`` says per packet: a ``skip_frame`` value, or None to not
    decode it at all; without ``index_of`` every packet is decoded and frames are counted. A decode
    error ends the frames (``guard.decode_error`` says why)."""
    count = position = -1
    with _open(path, s.formats) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: decoding is the floor of extract and serving
        ctx = stream.codec_context
        if s.limits is not None:  # FFmpeg refuses to allocate a bigger picture (av_image_check_size2)
            ctx.options = {"max_pixels": str(s.limits.max_pixels)}
        if isinstance(skip, str):
            ctx.skip_frame, skip = skip, None
        try:
            for packet in container.demux(stream):
                position += 1
                if skip is not None and packet.pts is not None:
                    mode = skip(packet.pts)
                    if mode is None:
                        continue
                    ctx.skip_frame = mode
                try:
                    decoded = packet.decode()
                except av.error.ArgumentError as exc:  # EINVAL: the picture size check refused it
                    if s.limits is None:
                        raise
                    at = index_of.get(packet.pts, position) if index_of else position
                    raise guard.refused(at) from exc
                for frame in decoded:
                    count += 1
                    index = count if index_of is None else index_of.get(frame.pts, -1)
                    guard.check(frame, index)
                    if index >= 0:
                        yield index, frame
        except VideoError:
            raise
        except (av.error.FFmpegError, ValueError) as exc:
            guard.decode_error = _ffmpeg_reason(exc)


def _take_exact(decoded, wanted: list[int], guard: _Guard) -> Iterator[tuple[int, np.ndarray]]:
    wanted_set, last, taken = set(wanted), max(wanted), 0
    try:
        for index, frame in decoded:
            if index in wanted_set:
                taken += 1
                yield index, guard.rgb(frame, index)
            if index >= last or taken == len(wanted_set):
                break
    finally:
        decoded.close()
    if not taken:
        raise _no_frames(guard.path, guard.decode_error)


def _take_nearest(decoded, wanted: list[int], guard: _Guard) -> Iterator[tuple[int, np.ndarray]]:
    """For each wanted index the nearest decoded frame (ties: the earlier), each frame taken once."""
    prev: tuple[int, av.VideoFrame] | None = None
    at, last_taken = 0, -1
    try:
        for index, frame in decoded:
            while at < len(wanted) and index >= wanted[at]:
                target = wanted[at]
                pick = prev if prev is not None and target - prev[0] <= index - target else (index, frame)
                if pick[0] != last_taken:
                    last_taken = pick[0]
                    yield pick[0], guard.rgb(pick[1], pick[0])
                at += 1
            if at == len(wanted):
                break
            prev = (index, frame)
    finally:
        decoded.close()
    if at < len(wanted) and prev is not None and prev[0] != last_taken:
        last_taken = prev[0]
        yield prev[0], guard.rgb(prev[1], prev[0])
    if last_taken < 0:
        raise _no_frames(guard.path, guard.decode_error)
