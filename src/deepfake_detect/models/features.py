"""Hand-made features of a face crop for the classical model.

* the azimuthally averaged log power spectrum of the grey crop (Durall et al. 2020: the
  up-sampling in face-swap generators leaves traces in the high frequencies), 64 radial bins;
* colour statistics (RGB, HSV saturation/value, YCrCb chroma means and spreads: blending seams
  and colour transfer mismatch);
* texture statistics (Laplacian sharpness, gradient energy, a uniform LBP histogram).
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.feature import local_binary_pattern

FEATURE_SIDE = 128
N_BINS = 64
LBP_POINTS = 8


def _radial_index(side: int) -> np.ndarray:
    yy, xx = np.indices((side, side))
    r = np.hypot(yy - side / 2, xx - side / 2)
    return np.minimum((r / (side / 2) * N_BINS).astype(int), N_BINS)


_RADIUS = _radial_index(FEATURE_SIDE)
_COUNTS = np.bincount(_RADIUS.ravel(), minlength=N_BINS + 1)[:N_BINS]


def fft_spectrum(grey: np.ndarray) -> np.ndarray:
    """Azimuthal average of log |FFT|² over ``N_BINS`` radii (corners beyond the inscribed circle dropped)."""
    power = np.abs(np.fft.fftshift(np.fft.fft2(grey.astype(np.float64)))) ** 2
    logp = np.log1p(power)
    sums = np.bincount(_RADIUS.ravel(), weights=logp.ravel(), minlength=N_BINS + 1)[:N_BINS]
    spec = sums / np.maximum(_COUNTS, 1)
    return spec - spec[0]  # relative to the DC term: independent of overall brightness


def colour_texture(rgb: np.ndarray, grey: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.float64)
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).reshape(-1, 3).astype(np.float64)
    flat = rgb.reshape(-1, 3).astype(np.float64)
    lap = cv2.Laplacian(grey, cv2.CV_64F)
    gx = cv2.Sobel(grey, cv2.CV_64F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_64F, 0, 1)
    lbp = local_binary_pattern(grey, LBP_POINTS, 1, method="uniform")
    lbp_hist = np.bincount(lbp.astype(int).ravel(), minlength=LBP_POINTS + 2) / lbp.size
    return np.concatenate(
        [
            flat.mean(0) / 255,
            flat.std(0) / 255,
            hsv[:, 1:].mean(0) / 255,
            hsv[:, 1:].std(0) / 255,
            ycc[:, 1:].mean(0) / 255,
            ycc[:, 1:].std(0) / 255,
            [np.log1p(lap.var()), np.log1p(np.hypot(gx, gy).mean())],
            lbp_hist,
        ]
    )


def crop_features(crops: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """RGB uint8 crops of any size → (N, F) float64 feature matrix."""
    rows = []
    for i, crop in enumerate(crops):
        crop = np.asarray(crop)
        if crop.ndim != 3 or crop.shape[2] != 3:
            raise ValueError(f"crop_features: crop {i} has shape {crop.shape}, expected (H, W, 3) RGB")
        rgb = cv2.resize(crop.astype(np.uint8), (FEATURE_SIDE, FEATURE_SIDE), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        rows.append(np.concatenate([fft_spectrum(grey), colour_texture(rgb, grey)]))
    return np.asarray(rows, dtype=np.float64)
