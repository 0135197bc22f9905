"""The "unlike the training data" tests fitted at promotion and stored in ``record.json``: a face's
embedding far from the training faces (:class:`OodFit`), a clip compressed harder than the training
clips (:class:`CompressionFit`)."""

from __future__ import annotations

import numpy as np

from deepfake_detect.contracts.base import Contract, ContractError


class OodFit(Contract):
    """Is a face like the training faces? The Mahalanobis distance of its embedding (the promoted PCA
    projection of the pooled features) from the training embeddings' mean under their shrunk
    covariance, fitted at promotion; ``threshold`` is the ``quantile`` of the same distance on val
    crops, so about 1 − quantile of faces like the held-out data are past it."""

    mean: list[float]
    precision: list[list[float]]  # inverse covariance (Ledoit-Wolf shrinkage)
    threshold: float
    quantile: float
    n_fit: int  # training crops
    n_threshold: int  # val crops

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """Distance of each embedding (N, E) from the training distribution (float, (N,))."""
        z = np.asarray(embeddings, np.float64).reshape(len(embeddings), -1)
        if z.shape[1] != len(self.mean):
            raise ContractError(f"ood: embeddings of {z.shape[1]} dims, fitted on {len(self.mean)}")
        d = z - np.asarray(self.mean)
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, np.asarray(self.precision), d), 0.0))


class CompressionFit(Contract):
    """Is a clip compressed like the training clips? ``floor`` is the ``quantile`` of the bits per pixel
    (:attr:`media.video.VideoInfo.bits_per_pixel`) of the training split's clips, fitted at promotion:
    a clip carrying fewer bits is compressed harder than the model has evidence about (heavy
    re-encoding smooths away the traces it reads, while its faces' embeddings stay familiar)."""

    floor: float
    quantile: float
    n_clips: int  # training clips the floor was fitted on

    def too_compressed(self, bits_per_pixel: float | None) -> bool | None:
        """Whether a clip is below the floor (None: an image, or a header without a bit rate)."""
        return None if bits_per_pixel is None else bits_per_pixel < self.floor
