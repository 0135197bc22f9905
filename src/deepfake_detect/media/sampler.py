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

Each frame comes as a :class:`SampledFrame`: with ``Sampling.detect_side`` (``extract.detect_max_side``)
it also carries the frame shrunk for the face detector by the decoder itself (libswscale, area
averaging, straight from the decoded YUV picture): a third of the cost of shrinking the RGB frame
with OpenCV, and at most ``detect_side`` pixels a side (not counted in the pixel budget).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av

from deepfake_detect.media.frames import FrameGuard, FrameLimits, FrameSizeError, SampledFrame, Sampling, out_size
from deepfake_detect.media.video import (
    TooManyFramesError,
    VideoError,
    _ffmpeg_reason,
    _no_frames,
    _open,
    probe,
    sample_indices,
)

__all__ = ["MIN_SPACING", "FrameLimits", "FrameSizeError", "SampledFrame", "Sampling", "iter_sample_frames", "out_size"]

MIN_SPACING = 4  # frames between samples below which nearest_reference decodes exactly (a B-pyramid run is <= 3)


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


def iter_sample_frames(path: str | Path, s: Sampling) -> Iterator[SampledFrame]:
    """A :class:`SampledFrame` (unpacks as ``(frame index, RGB uint8 array)``) for ``s.frames``
    evenly spaced frames, yielded as they decode.

    A truncated clip yields the frames before the damage; a clip where nothing decodes raises
    :class:`VideoError`; a frame refused for its size raises :class:`FrameSizeError`."""
    path = Path(path)
    info = probe(path, s.formats)
    packets = _demux(path, s)
    wanted = sample_indices(info.frames, s.frames)
    guard = FrameGuard(path, info, s)
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


def _decode(path, s: Sampling, guard: FrameGuard, index_of, skip) -> Iterator[tuple[int, av.VideoFrame]]:
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


def _take_exact(decoded, wanted: list[int], guard: FrameGuard) -> Iterator[SampledFrame]:
    wanted_set, last, taken = set(wanted), max(wanted), 0
    try:
        for index, frame in decoded:
            if index in wanted_set:
                taken += 1
                yield guard.take(frame, index)
            if index >= last or taken == len(wanted_set):
                break
    finally:
        decoded.close()
    if not taken:
        raise _no_frames(guard.path, guard.decode_error)


def _take_nearest(decoded, wanted: list[int], guard: FrameGuard) -> Iterator[SampledFrame]:
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
                    yield guard.take(pick[1], pick[0])
                at += 1
            if at == len(wanted):
                break
            prev = (index, frame)
    finally:
        decoded.close()
    if at < len(wanted) and prev is not None and prev[0] != last_taken:
        last_taken = prev[0]
        yield guard.take(prev[1], prev[0])
    if last_taken < 0:
        raise _no_frames(guard.path, guard.decode_error)
