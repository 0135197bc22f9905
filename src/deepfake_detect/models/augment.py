"""Train-time augmentations as TensorFlow graph ops (they run inside the ``tf.data`` pipeline of
:mod:`.dataset`): flip, rotation, brightness/contrast, and what platforms do to video — downscale
then upscale, H.264 and JPEG re-encoding, blur, noise — plus cutout. Settings: ``train.augment``."""

from __future__ import annotations

import math

import numpy as np

from deepfake_detect.config import AugmentParams


def augment_image(img, aug: AugmentParams, seed: int):
    """Flip, small rotation, brightness/contrast, downscale-upscale, H.264 and JPEG re-encoding, blur,
    noise and cutout on one float32 0..255 image (graph ops, so they run inside the tf.data pipeline;
    H.264 through ``tf.py_function``)."""
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
    if aug.downscale_prob > 0:
        img = tf.cond(chance(aug.downscale_prob), lambda: _down_up(img, size, aug.downscale_range, seed), lambda: img)
    if aug.h264_prob > 0:
        lo, hi = aug.h264_crf
        crf = tf.random.uniform([], lo, hi + 1, dtype=tf.int32, seed=seed)
        scale = tf.random.uniform([], aug.h264_scale[0], aug.h264_scale[1], seed=seed)
        img = tf.cond(chance(aug.h264_prob), lambda: _h264(img, crf, scale), lambda: img)
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


def _down_up(img, size, scale: tuple[float, float], seed: int):
    """Downscale to a random fraction of the side (area), then back up (bilinear): a platform's resize."""
    import tensorflow as tf

    side = tf.cast(tf.cast(size, tf.float32) * tf.random.uniform([], scale[0], scale[1], seed=seed), tf.int32)
    side = tf.maximum(side, 8)
    small = tf.image.resize(img[None], tf.stack([side, side]), method="area")
    return tf.image.resize(small, tf.stack([size, size]), method="bilinear")[0]


def _h264(img, crf, scale):
    """One H.264 intra frame at ``crf``, encoded at ``scale`` of the side
    (:func:`~deepfake_detect.media.codec.h264_round_trip`, libx264 through PyAV: no graph op encodes H.264)."""
    import tensorflow as tf

    from deepfake_detect.media.codec import h264_round_trip

    def encode(pixels, quality, fraction):
        rgb = np.clip(np.rint(pixels.numpy()), 0, 255).astype(np.uint8)
        return h264_round_trip(rgb, int(quality.numpy()), float(fraction.numpy())).astype(np.float32)

    out = tf.py_function(encode, [img, crf, scale], tf.float32)
    out.set_shape(img.shape)
    return out


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
