"""Reading clips: open and probe a file, the evenly spaced frame indices, the plain forward decode.

The sampler serving, extract and drift use is :mod:`deepfake_detect.media.sampler` (it decodes only
what is scored and checks every decoded frame); :func:`sample_frames` here is the plain reference it
is tested against: frames decoded forward once (seeking H.264 by frame number is 3-10x slower than
decoding forward), only the sampled ones converted to RGB, decoding stopped after the last one.
Every failure is a :class:`VideoError` whose message names the file and the reason,
so the extract stage can record it as a reject and go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from deepfake_detect.errors import DeepfakeError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")


class VideoError(DeepfakeError, ValueError):
    """A clip that cannot be used: the message says which file and why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class TooManyFramesError(VideoError):
    """A clip with more frames (packets) than the caller's limit."""


@dataclass(frozen=True)
class VideoInfo:
    path: str
    frames: int
    fps: float
    width: int
    height: int
    duration_s: float
    codec: str
    format: str = ""
    bit_rate: int | None = None  # the video stream's bits per second from the header (else the container's)

    @property
    def bits_per_pixel(self) -> float | None:
        """Bits the encoder spent per pixel of each frame: how hard the clip is compressed, whatever its
        size and frame rate (DFDC and FF++ c23 carry 0.02-0.09, FF++ c40 0.003-0.007); None when the
        header gives no bit rate."""
        if not self.bit_rate or self.width <= 0 or self.height <= 0 or self.fps <= 0:
            return None
        return self.bit_rate / (self.width * self.height * self.fps)


def open_container(path: Path, formats: Sequence[str] | None = None) -> av.container.InputContainer:
    """Open a local file (``file:`` protocol only, so no URL, device or nested network read), with
    FFmpeg's demuxer restricted to ``formats`` when given (no playlists, concat lists, image2)."""
    if not path.exists():
        raise VideoError(path, "file not found")
    if path.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    options = {"protocol_whitelist": "file"}
    if formats:
        options["format_whitelist"] = ",".join(formats)
    try:
        container = av.open(f"file:{path}", mode="r", options=options)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        allowed = f"; allowed containers: {', '.join(formats)}" if formats else ""
        raise VideoError(path, f"not a readable video ({_ffmpeg_reason(exc)}{allowed})") from exc
    if formats and not _allowed(container.format.name, formats):  # FFmpeg checked it too: belt and braces
        container.close()
        raise VideoError(path, f"container {container.format.name!r} is not allowed")
    return container


def _open(path: Path, formats: Sequence[str] | None = None) -> av.container.InputContainer:
    container = open_container(path, formats)
    if not container.streams.video:
        container.close()
        raise VideoError(path, "no video stream")
    return container


def _allowed(format_name: str, formats: Sequence[str]) -> bool:
    """FFmpeg names a demuxer by all its aliases (``mov,mp4,m4a,...``): any alias in ``formats`` will do."""
    return bool(set(format_name.split(",")) & set(formats))


def _ffmpeg_reason(exc: Exception) -> str:
    """The decoder's complaint without the file path that FFmpeg errors carry (callers name the file)."""
    if isinstance(exc, av.error.FFmpegError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


def _no_frames(path: Path, decode_error: str | None) -> VideoError:
    """The error for a clip where no sampled frame decoded, with the decoder's complaint if any."""
    return VideoError(path, "no decodable frames" + (f" ({decode_error})" if decode_error else ""))


def probe(path: str | Path, formats: Sequence[str] | None = None) -> VideoInfo:
    """Container-level facts (frame count, fps, size, duration, format) without decoding."""
    path = Path(path)
    with _open(path, formats) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        frames = int(stream.frames or round(duration * fps))
        codec = stream.codec_context.name if stream.codec_context else "unknown"
        bit_rate = stream.bit_rate or container.bit_rate or None
        return VideoInfo(
            str(path), frames, fps, stream.width, stream.height, duration, codec, container.format.name, bit_rate
        )


def sample_indices(total_frames: int, n: int) -> list[int]:
    """N evenly spaced frame indices over the clip (all frames when it has fewer than N)."""
    if total_frames <= 0:
        return list(range(n))  # unknown length: take the first n, decoding tells the truth
    if total_frames <= n:
        return list(range(total_frames))
    return np.linspace(0, total_frames - 1, n).round().astype(int).tolist()


def sample_frames(path: str | Path, n: int, formats: Sequence[str] | None = None) -> list[tuple[int, np.ndarray]]:
    """Decode forward and return ``(frame_index, RGB uint8 array)`` for N evenly spaced frames.

    A truncated clip yields the sampled frames that precede the damage; a clip where nothing
    decodes raises :class:`VideoError`.
    """
    path = Path(path)
    info = probe(path, formats)
    wanted = set(sample_indices(info.frames, n))
    last = max(wanted)
    out: list[tuple[int, np.ndarray]] = []
    decode_error: str | None = None
    with _open(path, formats) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: decoding is the floor of extract
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                if index in wanted:
                    out.append((index, frame.to_ndarray(format="rgb24")))
                if index >= last:
                    break
        except (av.error.FFmpegError, ValueError) as exc:
            decode_error = _ffmpeg_reason(exc)
    if not out:
        raise _no_frames(path, decode_error)
    return out


def decode_all_frames(path: str | Path) -> list[tuple[int, np.ndarray]]:
    """Every frame as RGB: the naive way, kept for the benchmark and for short clips."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return [(i, f.to_ndarray(format="rgb24")) for i, f in enumerate(container.decode(stream))]
