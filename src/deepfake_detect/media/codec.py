"""What a platform's video codec does to a face: an image through one H.264 frame and back. The
training augmentation ``train.augment.h264_prob`` (models/augment.py) uses it; it lives apart from
:mod:`.video`, the decoder, so that changing how clips are read does not retrain a model."""

from __future__ import annotations

import av
import numpy as np


def h264_round_trip(rgb: np.ndarray, crf: int) -> np.ndarray:
    """``rgb`` (uint8 HxWx3) encoded as one H.264 frame at ``crf`` and decoded again: what a
    platform's re-encoding does to a face (smoothing, blocking, colour bleeding from 4:2:0).

    Odd sides are edge-padded to even for 4:2:0 and cut back. One thread and x264's deterministic
    settings (as :func:`write_clip`), so the same input gives the same pixels."""
    h, w = rgb.shape[:2]
    even = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = even.shape[1], even.shape[0]
    encoder.pix_fmt = "yuv420p"
    encoder.thread_count = 1
    encoder.options = {"crf": str(int(crf)), "preset": "veryfast", "threads": "1", "x264-params": "mbtree=0"}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(even), format="rgb24")
    packets = [*encoder.encode(frame), *encoder.encode(None)]
    decoder = av.CodecContext.create("h264", "r")
    decoded = [f for packet in packets for f in decoder.decode(packet)]
    decoded += decoder.decode(None)
    return decoded[0].to_ndarray(format="rgb24")[:h, :w]
