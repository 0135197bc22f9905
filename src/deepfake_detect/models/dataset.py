"""Streamed input from the split manifest: a ``tf.data`` pipeline over file paths that decodes,
resizes, augments, batches and prefetches, so the dataset is never held in memory whole.

Decoding and resizing go through the same code as serving (``imagestats.read_rgb`` and
``predictor.resize_batch``), so a crop looks the same to the model in training and production.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import AugmentParams
from ..imagestats import read_rgb
from ..manifest import SPLITS, label_to_int, read_manifest
from ..predictor import resize_batch

SPLIT_COLUMNS = ["crop_id", "path", "video", "label", "group", "split"]


class SplitError(ValueError):
    """The split manifest cannot feed training or evaluation (the message names file and split)."""


def load_split(manifest: str | Path, split: str, root: str | Path = ".") -> pd.DataFrame:
    """Rows of one split with absolute ``path`` and an int ``y`` (FAKE = 1)."""
    if split not in SPLITS:
        raise SplitError(f"unknown split {split!r} (use one of {', '.join(SPLITS)})")
    df = read_manifest(manifest, required=SPLIT_COLUMNS)
    bad = sorted(set(df["label"].dropna()) - {"REAL", "FAKE"})
    if bad or df["label"].isna().any():
        raise SplitError(f"{manifest}: column label holds {bad or ['<empty>']}, expected REAL or FAKE")
    part = df[df["split"] == split].copy()
    if part.empty:
        raise SplitError(f"{manifest}: split {split!r} has no rows")
    root = Path(root)
    part["path"] = [str(p if Path(p).is_absolute() else root / p) for p in part["path"]]
    part["y"] = [label_to_int(v) for v in part["label"]]
    return part.reset_index(drop=True)


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Inverse-frequency weights, n / (2 * n_class): each class carries half the loss."""
    y = np.asarray(y)
    n = len(y)
    return {c: float(n / (2 * max(int((y == c).sum()), 1))) for c in (0, 1)}


def load_image(path: str, size: int) -> np.ndarray:
    """One crop as float32 (size, size, 3) RGB in 0..255, exactly as the Predictor feeds it."""
    return resize_batch([read_rgb(path)], size)[0]


def steps_for(n: int, batch_size: int, cap: int) -> int:
    steps = math.ceil(n / batch_size)
    return min(steps, cap) if cap else steps


def make_dataset(
    paths: list[str],
    labels: np.ndarray,
    input_size: int,
    batch_size: int,
    *,
    training: bool,
    augment: AugmentParams | None = None,
    seed: int = 42,
    repeat: bool = False,
):
    """A ``tf.data.Dataset`` of (images float32 0..255, labels float32) batches, streamed from files."""
    import tensorflow as tf

    def _load(path):
        return load_image(path.numpy().decode(), input_size)

    def _map(path, label):
        img = tf.py_function(_load, [path], tf.float32)
        img.set_shape((input_size, input_size, 3))
        if training and augment is not None:
            img = augment_image(img, augment, seed)
        return img, label

    ds = tf.data.Dataset.from_tensor_slices((list(paths), np.asarray(labels, np.float32).reshape(-1, 1)))
    if training:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def augment_image(img, aug: AugmentParams, seed: int):
    """Flip, small rotation, brightness/contrast, JPEG re-encoding, blur, noise and cutout on one
    float32 0..255 image (graph ops, so they run inside the tf.data pipeline)."""
    import tensorflow as tf

    size = tf.shape(img)[0]

    def chance(p: float):
        return tf.random.uniform([], seed=seed) < p

    if aug.flip:
        img = tf.image.random_flip_left_right(img, seed=seed)
    if aug.rotation_deg > 0:
        angle = tf.random.uniform([], -aug.rotation_deg, aug.rotation_deg, seed=seed) * math.pi / 180
        img = _rotate(img, angle)
    if aug.brightness > 0:
        img = img + tf.random.uniform([], -aug.brightness, aug.brightness, seed=seed) * 255.0
    if aug.contrast > 0:
        mean = tf.reduce_mean(img)
        img = (img - mean) * tf.random.uniform([], 1 - aug.contrast, 1 + aug.contrast, seed=seed) + mean
    img = tf.clip_by_value(img, 0.0, 255.0)
    if aug.jpeg_prob > 0:
        lo, hi = aug.jpeg_quality
        img = tf.cond(
            chance(aug.jpeg_prob),
            lambda: tf.image.random_jpeg_quality(img / 255.0, lo, max(hi, lo + 1), seed=seed) * 255.0,
            lambda: img,
        )
    if aug.blur_prob > 0:
        img = tf.cond(chance(aug.blur_prob), lambda: _blur3(img), lambda: img)
    if aug.noise_prob > 0 and aug.noise_std > 0:
        img = tf.cond(
            chance(aug.noise_prob),
            lambda: img + tf.random.normal(tf.shape(img), stddev=aug.noise_std, seed=seed),
            lambda: img,
        )
    if aug.cutout_prob > 0:
        img = tf.cond(chance(aug.cutout_prob), lambda: _cutout(img, size, aug.cutout_frac, seed), lambda: img)
    img = tf.clip_by_value(img, 0.0, 255.0)
    img.set_shape((None, None, 3))
    return img


def _rotate(img, angle):
    import tensorflow as tf

    shape = tf.shape(img)
    h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    cos, sin = tf.cos(angle), tf.sin(angle)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # output pixel (x, y) samples input (cos*x + sin*y + a, -sin*x + cos*y + b): rotation about the centre
    transform = tf.stack([cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy, 0.0, 0.0])
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=img[None],
        transforms=transform[None],
        output_shape=shape[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    return out[0]


def _blur3(img):
    import tensorflow as tf

    k = tf.constant([1.0, 2.0, 1.0])
    kernel = tf.tensordot(k, k, axes=0) / 16.0
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, 3, 1])
    return tf.nn.depthwise_conv2d(img[None], kernel, [1, 1, 1, 1], "SAME")[0]


def _cutout(img, size, frac: float, seed: int):
    import tensorflow as tf

    side = tf.maximum(1, tf.cast(tf.cast(size, tf.float32) * frac, tf.int32))
    y0 = tf.random.uniform([], 0, size - side + 1, dtype=tf.int32, seed=seed)
    x0 = tf.random.uniform([], 0, size - side + 1, dtype=tf.int32, seed=seed)
    rows = tf.range(size)[:, None]
    cols = tf.range(size)[None, :]
    inside = (rows >= y0) & (rows < y0 + side) & (cols >= x0) & (cols < x0 + side)
    return img * tf.cast(~inside, tf.float32)[:, :, None]
