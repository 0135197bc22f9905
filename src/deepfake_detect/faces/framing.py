"""Crop framing: how much of a crop around the face is context, the same in training and serving.

A model learns the framing of its training crops. Clips are cropped here with ``extract.margin``
of the detector's box on every side; a ready face-crop dataset comes framed by whoever cut it (the
Kaggle deepfake-faces crops are tight: BlazeFace's box fills the crop side, margin ~0, so
``extract.margin`` is 0 too and a run mixing them with clips frames every crop alike). Serving crops
faces itself, so it must cut them as the model's training crops were cut: train measures the framing
of its training crops (:func:`crop_margin`), the model record carries it (``crop_margin``), and
serving, monitoring and Grad-CAM crop with it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from deepfake_detect.config import ExtractParams
from deepfake_detect.faces.box import Face, canvas_pad

MARGIN_RANGE = (-0.2, 2.0)  # a crop tighter than the box by 40%, or 5x the box: beyond is a bad box


def face_in_crop(face: Face, crop: np.ndarray, canvas: float) -> tuple[int, int, int, int]:
    """A face found on :func:`faces.on_canvas` of a crop, as a box in the crop's own pixels."""
    pad = canvas_pad(crop.shape, canvas)
    return face.x - pad, face.y - pad, face.w, face.h


def framed_as_trained(ep: ExtractParams, margin: float | None) -> ExtractParams:
    """``ep`` whose ``margin`` is a model's training framing (its record's ``crop_margin``; ``ep`` as it
    is when the record has none): a model trained on tight Kaggle crops must see tight crops (face AUC
    on the shared clips 0.56 at margin 0.3 against 0.71 at the measured 0.0, docs/serving.md)."""
    return ep if margin is None else ep.model_copy(update={"margin": margin})


def crop_margin(rows: pd.DataFrame, extract_margin: float) -> float:
    """The median margin of training crops: ``extract_margin`` for crops cut from clips, and for ready
    crops with a detected face ``(crop side / face side - 1) / 2`` (ready crops where no face was
    found, or never verified, carry no framing)."""
    margins: list[float] = []
    for row in rows.itertuples(index=False):
        if row.frame >= 0:
            margins.append(extract_margin)
            continue
        if not row.confidence > 0:  # NaN (not verified) or 0 (no face): the box is the whole crop
            continue
        with Image.open(row.path) as img:  # the header only: the crop's size
            side = max(img.size)
        margins.append((side / max(row.w, row.h, 1) - 1) / 2)
    if not margins:
        return extract_margin
    return float(np.clip(np.median(margins), *MARGIN_RANGE))
