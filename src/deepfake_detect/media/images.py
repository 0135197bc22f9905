"""Per-crop image statistics used by validate, clean, serving's request log and drift monitoring.

One definition everywhere, so that a drift in, say, sharpness means the same thing in the
training manifest and in production.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from deepfake_detect.errors import DeepfakeError

STAT_COLUMNS = ["width", "height", "channels", "brightness", "contrast", "sharpness", "saturation"]
STATS_SIDE = 128  # statistics are computed on a copy resized to this side: comparable across sizes
SHARPNESS_MAX_GAIN = 4.0  # contrast-stretch cap of :func:`sharpness`


class ImageReadError(DeepfakeError, ValueError):
    """An image file that cannot be decoded (the message names it)."""


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to RGB uint8; raises ImageReadError naming the file."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageReadError(f"{path}: not a decodable image")
    return to_rgb8(img, str(path), bgr=True)


def to_rgb8(img: np.ndarray, name: str = "image", bgr: bool = False) -> np.ndarray:
    """Normalise grey, RGBA and 16-bit images to 3-channel uint8 RGB (16-bit straight to 8-bit, no float copy)."""
    if img.dtype == np.uint16:
        img = cv2.convertScaleAbs(img, alpha=1 / 257)
    elif img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating) and img.size and float(np.nanmax(img)) <= 1.0:
            img = img * 255
        img = np.clip(np.nan_to_num(img), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ImageReadError(f"{name}: unsupported image shape {img.shape}")
    if img.shape[2] == 1:
        return cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if bgr else cv2.COLOR_RGBA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if bgr else img


def sharpness(grey: np.ndarray) -> float:
    """Variance of the Laplacian after stretching the grey levels (1st-99th percentile → 0..255,
    gain at most ``SHARPNESS_MAX_GAIN`` so a flat image's noise is not blown up into "detail").

    The stretch makes it a measure of blur, not of light: on raw grey levels a dimly lit face has a
    low Laplacian variance however sharp it is, and a blur filter on raw levels dropped mostly dark,
    often darker-skinned, faces (measured on deepfake-faces: see docs/pipeline.md)."""
    g = grey.astype(np.float64)
    lo, hi = np.percentile(g, [1, 99])
    gain = min(255.0 / max(float(hi - lo), 1.0), SHARPNESS_MAX_GAIN)
    return float(cv2.Laplacian(np.clip((g - lo) * gain, 0, 255), cv2.CV_64F).var())


def crop_stats(rgb: np.ndarray, channels: int | None = None) -> dict[str, float]:
    """Size, channels, brightness (mean grey), contrast (grey std), sharpness (:func:`sharpness` on
    a 128-px grey copy) and mean saturation."""
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (STATS_SIDE, STATS_SIDE), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    return {
        "width": float(w),
        "height": float(h),
        "channels": float(channels if channels is not None else (rgb.shape[2] if rgb.ndim == 3 else 1)),
        "brightness": float(grey.mean()),
        "contrast": float(grey.std()),
        "sharpness": sharpness(grey),
        "saturation": float(hsv[..., 1].mean()),
    }


def file_stats(path: str | Path) -> dict[str, float]:
    """crop_stats of an image file, with its channel count as stored on disk."""
    path = Path(path)
    raw = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED) if path.exists() else None
    if raw is None:
        raise ImageReadError(f"{path}: not a decodable image")
    channels = 1 if raw.ndim == 2 else raw.shape[2]
    return crop_stats(to_rgb8(raw, str(path), bgr=True), channels=channels)


def shrink_size(width: int, height: int, max_side: int) -> tuple[int, int, float]:
    """The size an image shrinks to so its long side is at most ``max_side`` (aspect kept, never
    enlarged) and the scale: the one rule the detector's downscale and the decoder's follow."""
    scale = min(1.0, max_side / max(width, height))
    if scale >= 1.0:
        return width, height, 1.0
    return max(1, round(width * scale)), max(1, round(height * scale)), scale


def resize_batch(crops: list[np.ndarray] | np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 crops of any size → float32 batch (N, size, size, 3) in 0..255."""
    out = np.empty((len(crops), size, size, 3), np.float32)
    for i, c in enumerate(crops):
        out[i] = c if c.shape[:2] == (size, size) else cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA)
    return out
