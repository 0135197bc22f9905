"""The manifest: one row per face crop. The contract between every stage, serving and monitoring;
its one typed definition is :class:`ManifestRow` below (writers build rows with it).

Columns
-------
crop_id      unique id of the crop: ``<part>__<video stem>_f<frame>_<face>`` (``root`` for a flat
             folder; the part keeps same-named clips of two parts apart), or the crop file stem
             for a ready face-crop dataset
path         crop image path (relative to the project root, or absolute when outside it)
video        source clip file name, e.g. ``aabqyygbaa.mp4``
part         the part folder the clip came from (``dfdc_train_part_0``; ``.`` when flat)
frame        frame index in the clip (-1 for a ready face-crop dataset)
person       the person (face track, :func:`tracks.link`) within the clip, 0, 1, ...; 0 for ready crops
x, y, w, h   face box in original frame pixels (the whole image for face-crop datasets)
confidence   detector confidence (NaN for ready crops, which no detector scored)
label        ``REAL`` or ``FAKE``
group        the real source clip: a FAKE's ``original``, a REAL's own name, joined with every clip
             that shows one of its people (:func:`sources.identity_groups`). Splits keep a group on one
             side so no fake shares a split with its original or with another clip of its people
dataset      where the media comes from: ``dfdc`` | ``ffpp`` | ``sample`` | ``feedback`` | a metadata
             ``dataset`` value; evaluate reports each apart
source       ``dfdc_videos`` | ``deepfake_faces`` | ``feedback`` (labelled review crops, ``data.feedback_dir``;
             ``video`` and ``group`` are the served request's clip) | ``self_blend`` (balance's pseudo-fakes)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict

from deepfake_detect.errors import DeepfakeError
from deepfake_detect.files import atomic_path

LABELS = ("REAL", "FAKE")


class ManifestRow(BaseModel):
    """One face crop: the manifest's row (the module docstring says what each column means)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    crop_id: str
    path: str
    video: str
    part: str
    frame: int
    person: int  # the face track within the clip (tracks.link); 0 for ready crops
    x: int
    y: int
    w: int
    h: int
    confidence: float  # NaN for ready crops no detector scored
    label: Literal["REAL", "FAKE"]
    group: str
    dataset: str  # dfdc | ffpp | sample | feedback | ... (sources.dataset_of)
    # feedback: labelled review crops (data.feedback_dir); self_blend: balance's pseudo-fakes
    source: Literal["dfdc_videos", "deepfake_faces", "feedback", "self_blend"]


MANIFEST_COLUMNS = list(ManifestRow.model_fields)
# columns read as text whatever they hold (a video named 1234.mp4 stays "1234.mp4", a part "." stays ".")
MANIFEST_TEXT = [name for name, f in ManifestRow.model_fields.items() if f.annotation is str]

VIDEO_SOURCE = "dfdc_videos"  # clips (DFDC or FF++ layout) that extract cuts: the folder's layout and its rows' source
FACES_SOURCE = "deepfake_faces"  # Kaggle's ready crops (metadata.csv + faces_224/): layout and source
FEEDBACK_SOURCE = "feedback"  # labelled review crops: the release rule weighs the test rows of the other sources apart
READY_CROP_SOURCES = (FACES_SOURCE, FEEDBACK_SOURCE)  # face-crop datasets: no frames, a detector score per crop
REJECT_COLUMNS = ["video", "part", "path", "reason"]
DROPPED_COLUMNS = [*MANIFEST_COLUMNS, "reason"]
SPLITS = ("train", "val", "test")


class ManifestError(DeepfakeError, ValueError):
    """A manifest that lacks a column the reader needs (the message names the file and columns)."""


class ManifestNotFound(ManifestError, FileNotFoundError):
    """The manifest file is absent: the stage that writes it has not run."""


class SplitError(DeepfakeError, ValueError):
    """The data cannot be split as asked (too few groups or a single class), or the split manifest
    cannot feed training or evaluation (the message names the file and the split)."""


def label_to_int(label: str) -> int:
    """FAKE is the positive class (1), as in DFDC scoring."""
    return 1 if label == "FAKE" else 0


def read_manifest(path: str | Path, required: list[str] | None = None) -> pd.DataFrame:
    """Read a manifest CSV and check it has the columns the caller needs."""
    path = Path(path)
    if not path.exists():
        raise ManifestNotFound(f"{path}: manifest not found (did the previous stage run?)")
    df = pd.read_csv(path, dtype=dict.fromkeys(MANIFEST_TEXT, str))
    missing = [c for c in (required or MANIFEST_COLUMNS) if c not in df.columns]
    if missing:
        raise ManifestError(f"{path}: manifest lacks column(s) {', '.join(missing)}")
    return df


def write_csv(df: pd.DataFrame, path: str | Path, columns: list[str] | None = None) -> Path:
    """Write atomically (a unique temp file + ``os.replace``) so a crash never leaves half a manifest."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if columns is not None:
        for c in columns:
            if c not in df.columns:
                df = df.assign(**{c: pd.NA})
        df = df[columns]
    with atomic_path(path) as tmp:  # a temp name of its own: two writers never share one
        df.to_csv(tmp, index=False)
    return path
