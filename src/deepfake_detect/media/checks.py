"""Upload checks before any real work: file size, container and codec, frame rate and count,
resolution, a per-request pixel budget and deadline, 8-bit image decoding, and a clip's sampled
frames decoded by a thread that stops at the deadline (each decoded frame checked by
:mod:`.sampler` within the ``serve`` limits: :func:`upload_sampling`, :func:`video_error`).

Every refusal is a :class:`ScoringError` with an HTTP status, a short code and a detail that names
the upload (never the server's temp path) and the limit, with the ``serve.*`` param behind it.

One module on purpose, past the ~300-line guide: it is the whole attack surface of an upload, and a
security review reads every limit and its refusal in one place.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from deepfake_detect.config import Params
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.media.sampler import FrameLimits, FrameSizeError, SampledFrame, Sampling, iter_sample_frames
from deepfake_detect.media.video import (
    VIDEO_SUFFIXES,
    TooManyFramesError,
    VideoError,
    VideoInfo,
    open_container,
    probe,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
MEDIA_SUFFIXES = (*VIDEO_SUFFIXES, *IMAGE_SUFFIXES)


def media_files(path: Path) -> list[Path]:
    """The video and image files in a folder (recursively, in a stable order), or ``[path]`` for a file
    of either kind (``[]`` for any other file): what scoring and drift take from a folder they are given."""
    found = sorted(path.rglob("*")) if path.is_dir() else [path]
    return [f for f in found if f.is_file() and f.suffix.lower() in MEDIA_SUFFIXES]


# Leading bytes of the containers we accept: a file that starts like one but does not open is
# corrupt or truncated (422), anything else is not media at all (415).
_VIDEO_MAGIC = (
    (4, b"ftyp"),
    (4, b"moov"),
    (4, b"mdat"),
    (4, b"free"),
    (4, b"wide"),
    (0, b"\x1a\x45\xdf\xa3"),
    (0, b"RIFF"),
    (0, b"\x00\x00\x01\xba"),
    (0, b"FLV"),
    (0, b"OggS"),
)
_IMAGE_MAGIC = (
    (0, b"\xff\xd8\xff"),
    (0, b"\x89PNG"),
    (0, b"BM"),
    (0, b"II*\x00"),
    (0, b"MM\x00*"),
    (8, b"WEBP"),
    (0, b"GIF8"),
)
# what cv2 decodes an image to: 8-bit BGR whatever is stored (no 16-bit or alpha copy), EXIF ignored
_IMREAD_8BIT = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


class ScoringError(DeepfakeError, ValueError):
    """Bad input: ``status`` (HTTP 4xx, 504 past the deadline), ``error`` (a short code), ``detail``."""

    def __init__(self, status: int, error: str, detail: str):
        self.status, self.error, self.detail = status, error, detail
        super().__init__(f"{error}: {detail}")

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.error, "detail": self.detail}

    def without_path(self, path: Path, name: str) -> ScoringError:
        """The same error with the server-side ``path`` (and its folder) replaced by the upload's ``name``."""
        detail = self.detail
        for server_text, shown in ((str(path), name), (path.name, name), (str(path.parent), "")):
            detail = detail.replace(server_text, shown)
        if detail == self.detail:
            return self
        return ScoringError(self.status, self.error, detail)


@dataclass
class Deadline:
    """A request's time limit (``serve.deadline_s``), checked between frames and detector calls; and,
    where the service passes ``client_gone``, whether its client is still there (asked at most every
    ``poll_s`` by the request's own thread, so a disconnected client stops its work, not the deadline).
    The first ask comes ``poll_s`` in: a request shorter than that never pays the hop to the server's
    event loop (a face crop is scored in tens of milliseconds)."""

    seconds: float
    start: float = field(default_factory=time.monotonic)
    client_gone: Callable[[], bool] | None = None
    poll_s: float = 0.0
    _gone: threading.Event = field(default_factory=threading.Event, repr=False)
    _next_poll: float = 0.0

    def __post_init__(self) -> None:
        self._next_poll = self.start + self.poll_s

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def expired(self) -> bool:
        """Past the deadline, or the client is known to be gone (safe from any thread: never polls)."""
        return self.left() <= 0 or self._gone.is_set()

    def wait_s(self) -> float:
        """How long the request's thread may block before it must :meth:`check` again."""
        left = max(self.left(), 0.0)
        return left if self.client_gone is None else min(left, self.poll_s)

    def _client_is_gone(self) -> bool:
        if self.client_gone is not None and not self._gone.is_set() and time.monotonic() >= self._next_poll:
            self._next_poll = time.monotonic() + self.poll_s
            if self.client_gone():
                self._gone.set()
        return self._gone.is_set()

    def check(self, name: str, doing: str) -> None:
        if self._client_is_gone():
            raise ScoringError(499, "client_disconnected", f"{name}: the client disconnected; stopped while {doing}")
        if self.left() <= 0:
            raise ScoringError(
                504,
                "deadline_exceeded",
                f"{name}: not done within the {self.seconds:g}-s request "
                f"deadline (serve.deadline_s); stopped while {doing}",
            )


@dataclass
class PixelBudget:
    """Decoded image pixels one request may spend (``serve.max_request_pixels``)."""

    limit: int
    used: int = 0

    def take(self, width: int, height: int, name: str) -> None:
        if self.used + width * height > self.limit:
            raise ScoringError(
                413,
                "pixel_budget",
                f"{name}: {width}x{height} would bring this request to "
                f"{self.used + width * height} decoded pixels, over the {self.limit} of "
                f"serve.max_request_pixels: send it in another request",
            )
        self.used += width * height


def starts_with(path: Path, magic: Sequence[tuple[int, bytes]]) -> bool:
    with path.open("rb") as fh:
        head = fh.read(16)
    return any(head[o : o + len(m)] == m for o, m in magic)


def check_file(path: Path, name: str, max_bytes: int) -> int:
    if not path.is_file():
        raise ScoringError(400, "not_found", f"{name}: file not found")
    size = path.stat().st_size
    if size == 0:
        raise ScoringError(400, "empty_file", f"{name}: empty file (0 bytes)")
    if size > max_bytes:
        raise ScoringError(413, "too_large", f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit")
    return size


def check_resolution(width: int, height: int, name: str, params: Params) -> None:
    sp = params.serve
    if min(width, height) < sp.min_side:
        raise ScoringError(
            422, "resolution_too_small", f"{name}: {width}x{height} is below the {sp.min_side}-pixel minimum side"
        )
    if max(width, height) > sp.max_side or width * height > sp.max_pixels:
        raise ScoringError(
            422,
            "resolution_too_large",
            f"{name}: {width}x{height} is over the limit "
            f"({sp.max_side} pixels per side, {sp.max_pixels} pixels in all)",
        )


def probe_video(path: Path, name: str, params: Params) -> VideoInfo:
    """Container checks before any decoding: allowed container, media type, codec, duration, frame
    rate, frame count, resolution."""
    sp = params.serve
    try:
        with open_container(path, sp.video_formats) as container:
            fmt = container.format.name
            stream = container.streams.video[0] if container.streams.video else None
            codec = stream.codec_context.name if stream is not None and stream.codec_context else None
    except VideoError as exc:
        if starts_with(path, _IMAGE_MAGIC):
            raise ScoringError(415, "not_a_video", f"{name}: an image, not a video: use score_image") from exc
        if starts_with(path, _VIDEO_MAGIC):
            raise ScoringError(422, "corrupt_video", f"{name}: damaged or truncated video ({exc.reason})") from exc
        raise ScoringError(
            415,
            "unsupported_media",
            f"{name}: not a video file this service can read (containers allowed: {', '.join(sp.video_formats)})",
        ) from exc
    if stream is None:
        raise ScoringError(415, "no_video_stream", f"{name}: the {fmt} container has no video stream")
    if not codec or codec == "none" or not _has_decoder(codec):
        raise ScoringError(
            415,
            "unsupported_codec",
            f"{name}: video codec {codec or 'unknown'!r} ({_fourcc(path)}) cannot be decoded here",
        )
    try:
        info = probe(path, sp.video_formats)
    except VideoError as exc:
        raise ScoringError(422, "corrupt_video", f"{name}: {exc.reason}") from exc
    if info.duration_s > sp.max_duration_s:
        raise ScoringError(
            422, "video_too_long", f"{name}: {info.duration_s:.1f} s is over the {sp.max_duration_s:.0f} s limit"
        )
    if info.fps > sp.max_fps:
        raise ScoringError(
            422,
            "fps_too_high",
            f"{name}: {info.fps:.0f} frames per second is over the {sp.max_fps:g}-fps limit (serve.max_fps)",
        )
    if info.frames > sp.max_frames:
        raise ScoringError(
            422,
            "too_many_frames",
            f"{name}: {info.frames} frames is over the {sp.max_frames}-frame limit (serve.max_frames)",
        )
    check_resolution(info.width, info.height, name, params)
    return info


def upload_sampling(params: Params) -> Sampling:
    """How an upload's frames are sampled: the extract sampler (the frames training saw) within the serve limits."""
    sp = params.serve
    return Sampling.of(
        params.extract, sp.frames_per_video, FrameLimits.of(sp), formats=sp.video_formats, max_frames=sp.max_frames
    )


_FRAME_ERRORS = {  # FrameSizeError.kind → status, code, the params behind the limit
    "too_large": (422, "resolution_too_large", "serve.max_side, serve.max_pixels"),
    "size_changed": (422, "frame_size_changed", "a clip's frames must all have the header's size"),
    "budget": (413, "pixel_budget", "serve.max_request_pixels"),
}


def video_error(exc: VideoError, name: str, params: Params) -> ScoringError:
    """A decode-time :class:`VideoError` as the answer to the client."""
    if isinstance(exc, FrameSizeError):
        status, error, why = _FRAME_ERRORS[exc.kind]
        return ScoringError(status, error, f"{name}: {exc.reason} ({why})")
    if isinstance(exc, TooManyFramesError):
        return ScoringError(
            422, "too_many_frames", f"{name}: {exc.reason} (serve.max_frames = {params.serve.max_frames})"
        )
    return ScoringError(422, "corrupt_video", f"{name}: {exc.reason}")


def _fourcc(path: Path) -> str:
    """The sample-entry tag of an MP4/MOV video track, for the error message."""
    with path.open("rb") as fh:
        head = fh.read(4_000_000)
    at = head.find(b"stsd")
    tag = head[at + 16 : at + 20] if at >= 0 else b""
    return f"tag {tag.decode('latin-1')!r}" if len(tag) == 4 else "no codec tag"


def _has_decoder(codec: str) -> bool:
    import av

    try:
        av.codec.Codec(codec, "r")
    except (av.error.FFmpegError, ValueError, av.codec.codec.UnknownCodecError):
        return False
    return True


def _stored_channels(im: Any) -> int:
    """Channels as stored, from the header (palette images count as RGB, RGBA with transparency)."""
    if im.mode == "P":
        return 4 if "transparency" in im.info else 3
    return len(im.getbands())


def read_image(path: Path, name: str, params: Params, budget: PixelBudget | None = None) -> tuple[np.ndarray, int]:
    """Decode an image straight to RGB uint8 (grey, RGBA, 16-bit alike: no deep or float copy) after
    checking its header size and the request's pixel budget; returns (rgb, channels as stored)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            (width, height), channels = im.size, _stored_channels(im)
    except Image.DecompressionBombError as exc:
        raise ScoringError(422, "resolution_too_large", f"{name}: {exc}") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        if starts_with(path, _IMAGE_MAGIC):
            raise ScoringError(422, "corrupt_image", f"{name}: damaged or truncated image") from exc
        if starts_with(path, _VIDEO_MAGIC):
            raise ScoringError(415, "not_an_image", f"{name}: a video, not an image: use score_video") from exc
        raise ScoringError(415, "unsupported_media", f"{name}: not an image file this service can read") from exc
    check_resolution(width, height, name, params)
    if budget is not None:
        budget.take(width, height, name)
    bgr = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), _IMREAD_8BIT)
    if bgr is None:
        raise ScoringError(422, "corrupt_image", f"{name}: image header reads but the pixels do not decode")
    if bgr.shape[:2] != (height, width):
        raise ScoringError(
            422,
            "corrupt_image",
            f"{name}: the header says {width}x{height}, the pixels decode as {bgr.shape[1]}x{bgr.shape[0]}",
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr), channels


class FrameDecoder:
    """A clip's sampled frames, decoded by a thread into a small queue so that detection overlaps
    decoding. The thread stops at the request's deadline or when the consumer calls :meth:`stop`
    (an error, a refusal); iterating raises the decoder's error, or the deadline's 504."""

    _END = object()

    def __init__(self, path: Path, params: Params, deadline: Deadline, name: str):
        self.seconds = 0.0
        self._deadline, self._name = deadline, name
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2 * params.serve.detect_batch)
        self._stopped = threading.Event()
        sampling = upload_sampling(params)
        self._thread = threading.Thread(target=self._run, args=(path, sampling), name="decode", daemon=True)
        self._thread.start()

    def _done(self) -> bool:
        return self._stopped.is_set() or self._deadline.expired()

    def _run(self, path: Path, sampling: Sampling) -> None:
        frames = iter_sample_frames(path, sampling)
        try:
            t = time.perf_counter()
            for item in frames:
                self.seconds += time.perf_counter() - t
                self._queue.put(item)
                if self._done():
                    return
                t = time.perf_counter()
            self.seconds += time.perf_counter() - t
            self._queue.put(self._END)
        except Exception as exc:  # handed to the consumer, which raises it with the file name
            self._queue.put(exc)
        finally:
            frames.close()  # closes the container even when stopped early

    def __iter__(self) -> Iterator[SampledFrame]:
        while True:
            try:
                item = self._queue.get(timeout=self._deadline.wait_s())
            except queue.Empty:
                self._deadline.check(self._name, "decoding frames")
                continue
            if item is self._END:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    def stop(self) -> None:
        """Stop the thread: a ``put`` it is blocked in returns once the queue is drained."""
        self._stopped.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=self._deadline.seconds)
