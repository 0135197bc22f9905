"""Unfamiliar media: how far a face's embedding lies from the training faces' embeddings.

Fitted at promotion on the projected pooled features (:meth:`Predictor.embed`) of training crops: the
Mahalanobis distance under a Ledoit-Wolf shrunk covariance (few crops, 64 dimensions: the plain
estimate would be noisy), and a threshold at ``promote.ood_quantile`` of the same distance on val
crops, so about 1 − quantile of faces like the held-out data are flagged. A face past it is one the
model has no evidence about: its verdict is unreliable, whatever its P(FAKE) says."""

from __future__ import annotations

import numpy as np

from deepfake_detect.contracts import OodFit
from deepfake_detect.models.predictor import project


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
