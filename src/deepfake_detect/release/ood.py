"""Unfamiliar media: how far a face's embedding lies from the training faces' embeddings.

Fitted at promotion on the projected pooled features (:meth:`Predictor.embed`) of training crops: the
Mahalanobis distance under a Ledoit-Wolf shrunk covariance (few crops, 64 dimensions: the plain
estimate would be noisy), and a threshold at ``promote.ood_quantile`` of the same distance on val
crops, so about 1 − quantile of faces like the held-out data are flagged. A face past it is one the
model has no evidence about: its verdict is unreliable, whatever its P(FAKE) says.

Heavy compression is the blind spot of that test (at CRF 40 the faces' embeddings stay near the
training ones while AUC falls), so a second test looks at the clip itself: :func:`fit_compression`
puts a floor under the bits per pixel of the training split's clips."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_detect.contracts.unfamiliar import CompressionFit, OodFit
from deepfake_detect.data.manifest import VIDEO_SOURCE
from deepfake_detect.data.sources import list_clips
from deepfake_detect.media.video import VideoError, probe
from deepfake_detect.models.predictor import project

log = logging.getLogger(__name__)


def fit_ood(train: np.ndarray, val: np.ndarray, quantile: float) -> OodFit:
    """The distance fitted on ``train`` embeddings (N, E), its threshold from ``val`` embeddings."""
    from sklearn.covariance import LedoitWolf

    train = np.asarray(train, np.float64)
    lw = LedoitWolf().fit(train)
    unfitted = OodFit(
        mean=lw.location_.tolist(),
        precision=lw.precision_.tolist(),
        threshold=np.inf,
        quantile=quantile,
        n_fit=len(train),
        n_threshold=len(val),
    )
    cut = float(np.quantile(unfitted.score(val), quantile))
    return unfitted.model_copy(update={"threshold": cut})


def fit_embedding(
    train_features: np.ndarray, val_features: np.ndarray, components: int, quantile: float
) -> tuple[dict[str, np.ndarray], OodFit]:
    """The served embedding and the unfamiliar-media test, from pooled features (N, D) of training and
    val crops: a PCA (via SVD) of the training features to ``components`` dimensions (``mean`` and
    ``components``, saved as ``projection.npz``), and :func:`fit_ood` on the projected crops."""
    train_features, val_features = (np.asarray(f, np.float64) for f in (train_features, val_features))
    mean = train_features.mean(axis=0)
    _, _, vt = np.linalg.svd(train_features - mean, full_matrices=False)
    k = min(components, vt.shape[0])
    projection = {"mean": mean.astype(np.float32), "components": vt[:k].astype(np.float32)}
    return projection, fit_ood(project(projection, train_features), project(projection, val_features), quantile)


def fit_compression(bits_per_pixel: list[float], quantile: float) -> CompressionFit | None:
    """The floor under the training clips' bits per pixel: their ``quantile`` (so about that share of
    clips like them is flagged); None without a clip (a model trained on ready crops only)."""
    bad = [b for b in bits_per_pixel if not (math.isfinite(b) and b > 0)]
    if bad:
        raise ValueError(f"bits_per_pixel must be positive and finite, got {bad[:3]}")
    if not bits_per_pixel:
        return None
    return CompressionFit(
        floor=float(np.quantile(bits_per_pixel, quantile)), quantile=quantile, n_clips=len(bits_per_pixel)
    )


def clip_bits_per_pixel(rows: pd.DataFrame, raw_dir: Path) -> list[float]:
    """Bits per pixel of the clips (under ``raw_dir``, matched by part and file name) that ``rows`` of a
    split manifest were cut from; ready crops have no clip. Clips that are missing or whose header
    gives no bit rate are left out with a warning (the test is then fitted on fewer clips, or not at all)."""
    wanted = set(rows[["part", "video"]].astype(str).itertuples(index=False, name=None))
    clips = {(c.part, c.video): c.path for c in list_clips(raw_dir)[0]} if Path(raw_dir).is_dir() else {}
    found = [clips[k] for k in sorted(wanted) if k in clips]
    bits = []
    for path in found:
        try:
            bpp = probe(path).bits_per_pixel
        except VideoError as exc:
            log.warning("compression test: %s left out (%s)", path, exc.reason)
            continue
        if bpp is None:
            log.warning("compression test: %s left out (its header gives no bit rate)", path)
        else:
            bits.append(bpp)
    if len(found) < len(wanted):
        log.warning(
            "compression test: %d of %d training clips are not under %s (moved since extract?): fitted on the %d found",
            len(wanted) - len(found),
            len(wanted),
            raw_dir,
            len(bits),
        )
    return bits


def fit_clip_compression(rows: pd.DataFrame, raw_dir: Path, quantile: float) -> CompressionFit | None:
    """:func:`fit_compression` on the clips that a split's manifest ``rows`` were cut from (video
    sources only: ready crops have no clip), found under ``raw_dir``."""
    clips = rows[rows["source"] == VIDEO_SOURCE] if "source" in rows else rows.iloc[:0]
    fit = fit_compression(clip_bits_per_pixel(clips, raw_dir), quantile)
    if fit is None:
        log.info("compression test: no training clip to fit it on (under %s): the release has none", raw_dir)
    else:
        log.info("compression test: floor %.4f bits per pixel (%d training clips)", fit.floor, fit.n_clips)
    return fit
