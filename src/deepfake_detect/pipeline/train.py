"""Stage ``train``: one model family on the split manifest's train split, validated on val.

Writes ``<train.models_dir>/<model>/`` (record.json + artifact) and the training curves
``<train.curves_dir>/<model>.csv``. The record names the data: DVC's content hash of ``data.raw_dir``
and that path. The model folder is written beside its final place and
renamed in, so an interrupted run never leaves a half-written model."""

from __future__ import annotations

import logging
import shutil

from deepfake_detect.config import Params
from deepfake_detect.contracts.model import RECORD_FILE, ModelRecord
from deepfake_detect.faces.framing import crop_margin
from deepfake_detect.models import FAMILIES, REGISTRY
from deepfake_detect.models.artifacts import data_version
from deepfake_detect.models.dataset import load_split

log = logging.getLogger(__name__)


def run_train(p: Params, model: str) -> ModelRecord:
    if model not in FAMILIES:
        raise ValueError(f"unknown model {model!r}: choose one of {', '.join(FAMILIES)}")
    train = load_split(p.balance.manifest, "train")
    val = load_split(p.balance.manifest, "val")
    log.info(
        "%s: %d train crops (%d FAKE), %d val crops (%d FAKE)",
        model,
        len(train),
        int(train["y"].sum()),
        len(val),
        int(val["y"].sum()),
    )
    final = p.train.models_dir / model
    tmp = p.train.models_dir / f".{model}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    curves = p.train.curves_dir / f"{model}.csv"
    record = REGISTRY[model].train(p, train, val, tmp, curves)
    record = record.model_copy(
        update={
            "crop_margin": crop_margin(train, p.extract.margin),  # serving cuts faces as these crops were cut
            "data_version": data_version(p.data.raw_dir),  # the data it was trained on, wherever that is
            "data_path": str(p.data.raw_dir),
        }
    )
    record.write(tmp / RECORD_FILE)
    log.info("%s: training crops framed with margin %.3f", model, record.crop_margin)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    log.info("%s: saved to %s (%.1f s of training)", model, final, record.train_seconds)
    return record
