"""Grad-CAM (Selvaraju et al. 2017) over a Keras model's last convolutional block, as a PNG overlay.

The feature map is the input of the model's ``pooled`` layer (record ``embedding_layer``): for the
Xception model that is the output of its last block (``block14_sepconv2_act``, nested base model
included), for the baseline CNN its last conv block. Gradients of P(FAKE) with respect to that map,
averaged per channel, weight the channels; the ReLU of the sum is the heatmap. Red = the regions
that push the score towards FAKE.
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np

from deepfake_detect.errors import DeepfakeError
from deepfake_detect.media.images import resize_batch


class GradCamError(DeepfakeError, ValueError):
    """The model cannot be explained this way (the message says why)."""


class ExplainUnavailableError(DeepfakeError, ValueError):
    """Grad-CAM asked of a model that cannot give it (a scikit-learn model, no conv layer)."""


def explain_refusal(family: str, tag: str) -> str | None:
    """Why a model of ``family`` cannot be explained, or None (Grad-CAM needs a Keras model; an
    ensemble's members are distinct families, only one of them scikit-learn, so it always has one)."""
    if family in ("keras", "ensemble"):
        return None
    return f"model {tag} is a {family} model: Grad-CAM needs a Keras model"


class GradCam:
    """Heatmaps for one Keras model; build once, call for a batch of RGB uint8 crops."""

    def __init__(self, model: Any, input_size: int, layer: str = "pooled"):
        import keras

        try:
            pooled = model.get_layer(layer)
        except ValueError as exc:
            raise GradCamError(f"model has no layer {layer!r} to take the feature map from") from exc
        if len(pooled.input.shape) != 4:
            raise GradCamError(f"layer {layer!r} input is not a spatial feature map: {pooled.input.shape}")
        self._grad_model = keras.Model(model.inputs, [pooled.input, model.output])
        self.input_size = input_size
        self._lock = threading.Lock()

    def heatmaps(self, crops: list[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(heatmaps (N, h, w) in 0..1 at feature-map resolution, probabilities (N,))."""
        import tensorflow as tf

        batch = tf.convert_to_tensor(resize_batch(crops, self.input_size))
        with self._lock, tf.GradientTape() as tape:
            fmap, prob = self._grad_model(batch, training=False)
            target = tf.reshape(prob, [-1])
        grads = tape.gradient(target, fmap)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * fmap, axis=-1)).numpy()
        peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
        cam = np.where(peak > 0, cam / np.maximum(peak, 1e-12), 0.0)
        return cam.astype(np.float32), np.asarray(target).reshape(-1)

    def overlays(self, crops: list[np.ndarray] | np.ndarray, alpha: float = 0.45) -> list[bytes]:
        """PNG bytes per crop: the crop with its heatmap (JET colour map) blended over it."""
        cams, _ = self.heatmaps(crops)
        return [overlay_png(np.asarray(crop), cam, alpha) for crop, cam in zip(crops, cams, strict=True)]


def overlay_png(rgb: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> bytes:
    """Blend a 0..1 heatmap (any resolution) over an RGB uint8 image; PNG-encoded."""
    h, w = rgb.shape[:2]
    heat = cv2.resize(cam.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    colour = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET)  # BGR
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    blended = cv2.addWeighted(colour, alpha, bgr, 1 - alpha, 0)
    ok, buf = cv2.imencode(".png", blended)
    if not ok:
        raise GradCamError("PNG encoding failed")
    return buf.tobytes()
