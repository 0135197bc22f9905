"""Self-blended images: a REAL face blended with a transformed copy of itself (Shiohara & Yamasaki,
CVPR 2022). The only "fake" traces left are the ones every face swap leaves — a blending boundary,
a colour mismatch, a resampling and slight misalignment of the pasted region — with no generator's
fingerprint, so a detector trained on them learns manipulation rather than one method or camera.

One implementation of the transform and the blend, used by the embedded sample's FAKE clips
(:mod:`.sample`, a style fixed per clip), balance's ``self_blend`` strategy and the pseudo-fakes
training makes on the fly (:mod:`deepfake_detect.models.dataset`)."""

from __future__ import annotations

import cv2
import numpy as np


def warped_copy(
    rgb: np.ndarray,
    *,
    angle: float,
    scale: float,
    shift: np.ndarray,
    gain: np.ndarray,
    bias: np.ndarray | float,
    resample: float,
) -> np.ndarray:
    """The source side of a blend (float32): rotated/scaled/shifted (pixels), colour gain + bias per
    channel, then down- and up-sampled by ``resample`` (< 1 blurs it as a generator's output is)."""
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += shift
    src = cv2.warpAffine(rgb.astype(np.float32), m, (w, h), borderMode=cv2.BORDER_REFLECT)
    src = src * gain + bias
    small = cv2.resize(src, (max(8, int(w * resample)), max(8, int(h * resample))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def blend(rgb: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``rgb`` with ``source`` pasted through ``mask`` (float, HxWx1, 0..1), as uint8."""
    return np.clip(rgb * (1 - mask) + source * mask, 0, 255).astype(np.uint8)


def ellipse_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A feathered elliptical face-region mask of random shape, position, softness and strength."""
    mask = np.zeros((h, w), np.float32)
    centre = (int(w * rng.uniform(0.42, 0.58)), int(h * rng.uniform(0.48, 0.62)))
    axes = (int(w * rng.uniform(0.2, 0.34)), int(h * rng.uniform(0.26, 0.4)))
    cv2.ellipse(mask, centre, axes, rng.uniform(-15, 15), 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, w * rng.uniform(0.015, 0.07)))
    return (mask * rng.uniform(0.6, 1.0))[..., None]


def self_blend_crop(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A pseudo-fake face crop: the face blended onto itself after a random small warp, colour
    jitter and resampling, through a random feathered ellipse (the blending boundary is the trace)."""
    h, w = rgb.shape[:2]
    source = warped_copy(
        rgb,
        angle=rng.uniform(-3, 3),
        scale=rng.uniform(0.95, 1.06),
        shift=rng.uniform(-0.03, 0.03, size=2) * (w, h),
        gain=rng.uniform(0.88, 1.12, size=3),
        bias=rng.uniform(-10, 10, size=3),
        resample=rng.uniform(0.4, 0.85),
    )
    return blend(rgb, source, ellipse_mask(h, w, rng))
