"""Encoding with libx264: clips (:func:`write_clip`: the embedded sample, test and bench clips) and
what a platform's re-encoding does to a face (:func:`h264_round_trip`: the training augmentation
``train.augment.h264_prob``, models/augment.py). It lives apart from :mod:`.video`, the reader extract
and serving decode with, so that changing how clips are read does not retrain a model, and changing
how they are written re-extracts nothing."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

X264_DETERMINISTIC = {"preset": "veryfast", "threads": "1", "x264-params": "mbtree=0"}
"""x264 options that make the same frames give the same bytes: one thread, and macroblock-tree rate
control off. mbtree runs float SIMD (``mbtree_propagate_cost``) whose results differ from call to call
in one process and between CPUs (measured: 2 of 4 sample clips changed size between two calls); every
other x264 path is bit-exact integer code."""

CLIP_CRF = 20  # quality of the clips write_clip makes (x264's CRF: lower = better; FF++ c23 is 23)


def h264_round_trip(rgb: np.ndarray, crf: int, scale: float = 1.0) -> np.ndarray:
    """``rgb`` (uint8 HxWx3) encoded as one H.264 frame at ``crf`` and decoded again: what a
    platform's re-encoding does to a face (smoothing, blocking, colour bleeding from 4:2:0).

    ``scale`` < 1 encodes it at that fraction of its side (area downscale) and resizes the result back
    (bilinear): a face is smaller in the compressed frame than the crop cut from it, so the codec
    spends fewer pixels on it. Odd sides are edge-padded to even for 4:2:0 and cut back. One thread and
    x264's deterministic settings (:data:`X264_DETERMINISTIC`), so the same input gives the same pixels."""
    if scale < 1.0:
        import cv2

        full_h, full_w = rgb.shape[:2]
        side = (max(2, round(full_w * scale)), max(2, round(full_h * scale)))
        small = cv2.resize(rgb, side, interpolation=cv2.INTER_AREA)
        return cv2.resize(h264_round_trip(small, crf), (full_w, full_h), interpolation=cv2.INTER_LINEAR)
    h, w = rgb.shape[:2]
    even = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = even.shape[1], even.shape[0]
    encoder.pix_fmt = "yuv420p"
    encoder.thread_count = 1
    encoder.options = {"crf": str(int(crf)), **X264_DETERMINISTIC}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(even), format="rgb24")
    packets = [*encoder.encode(frame), *encoder.encode(None)]
    decoder = av.CodecContext.create("h264", "r")
    decoded = [f for packet in packets for f in decoder.decode(packet)]
    decoded += decoder.decode(None)
    return decoded[0].to_ndarray(format="rgb24")[:h, :w]


def write_clip(
    path: str | Path, frames: list[np.ndarray], fps: int, codec: str = "libx264", crf: int = CLIP_CRF
) -> Path:
    """Write RGB frames as an H.264 mp4 at ``crf``, byte-identical for identical frames
    (:data:`X264_DETERMINISTIC`): the embedded sample, and the clips tests and benches make."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(int(crf)), **X264_DETERMINISTIC}
        stream.thread_count = 1
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(rgb[: stream.height, : stream.width]), format="rgb24"
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
