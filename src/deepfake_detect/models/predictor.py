"""Load a trained or promoted model folder and score face crops: the one model wrapper that
evaluate, promote, serving, the CLI scanner and drift monitoring all share.

A model folder holds
  ``record.json``  a :class:`deepfake_detect.contracts.model.ModelRecord` (name, family, artifact,
                    input size, threshold, metrics, params, data version, git revision, ...)
  the artifact     ``model.keras`` (Keras 3; preprocessing layers inside the model, input is RGB
                    in 0..255 at ``input_size``², output sigmoid P(FAKE)) or ``model.joblib``
                    (a scikit-learn pipeline over :func:`deepfake_detect.models.features.crop_features`)
  ``projection.npz`` optional: ``mean`` and ``components`` of a PCA fitted on training
                    pooled features; :meth:`Predictor.embed` projects onto it (compact embedding
                    for the request log and embedding drift)

An ensemble's folder holds its record and, once promoted, ``members/<name>/``: one such folder per member
with the calibration evaluate fitted for it (trained, its members are the folders beside it).
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepfake_detect.contracts.base import ContractError
from deepfake_detect.contracts.calibration import IDENTITY, Calibration
from deepfake_detect.contracts.model import MEMBERS_DIR, PROJECTION_FILE, RECORD_FILE, ModelRecord
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.media.images import resize_batch
from deepfake_detect.models.combine import ensemble_record, mean_logit
from deepfake_detect.models.gradcam import ExplainUnavailableError, GradCam, GradCamError, explain_refusal


class ModelLoadError(DeepfakeError, RuntimeError):
    """A model folder that cannot be loaded (the message names the folder and what is missing)."""


def read_record(folder: str | Path) -> ModelRecord:
    path = Path(folder) / RECORD_FILE
    if not path.exists():
        raise ModelLoadError(f"{folder}: no {RECORD_FILE} (not a model folder; run `dvc repro` to train one)")
    try:
        return ModelRecord.read(path)
    except ContractError as exc:
        raise ModelLoadError(str(exc)) from exc


@dataclass
class Predictor:
    """Scores RGB face crops: ``predict`` → P(FAKE) per crop, ``embed`` → compact embedding,
    ``score`` → both in one forward pass (serving), ``explain`` → Grad-CAM overlays. A record with
    ``test_time_flip`` scores each face beside its mirror (the embedding and Grad-CAM are the face's own)."""

    folder: Path
    record: ModelRecord
    model: Any
    projection: dict[str, np.ndarray] | None = None
    prior_fake: float | None = None  # the deployment's share of FAKE (serve.prior_fake); None: the calibration's own
    _embedder: Any = field(default=None, repr=False)
    _dual: Any = field(default=None, repr=False)
    _gradcam: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def family(self) -> str:
        return self.record.family

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def tag(self) -> str:
        """The release tag of a promoted model; a trained, not yet promoted folder goes by its name."""
        return self.record.tag or self.record.name

    @property
    def input_size(self) -> int:
        return self.record.input_size

    @property
    def threshold(self) -> float:
        """The promoted threshold, moved with the prior shift so a face gets the same verdict at any
        ``prior_fake`` (only what P(FAKE) says about the odds changes)."""
        return self.calibration.shift_threshold(self.record.threshold)

    @property
    def calibration(self) -> Calibration:
        """The map fitted on validation at evaluate time (identity for a model not yet evaluated),
        shifted to ``prior_fake`` (:meth:`Calibration.at_prior`)."""
        return (self.record.calibration or IDENTITY).at_prior(self.prior_fake)

    @property
    def embedding_layer(self) -> str:
        """The Keras layer whose output is the pooled features (embeddings and Grad-CAM start there)."""
        if self.record.embedding_layer is None:
            raise ModelLoadError(f"{self.folder}: {RECORD_FILE} names no embedding_layer ({self.family} model)")
        return self.record.embedding_layer

    def predict(self, crops: list[np.ndarray] | np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Calibrated P(FAKE) per crop (the record's calibration applied to the model's output)."""
        return self.calibration.apply(self.predict_raw(crops, batch_size))

    def predict_raw(self, crops: list[np.ndarray] | np.ndarray, batch_size: int = 32) -> np.ndarray:
        """The model's own output, before calibration (what evaluate fits the calibration on)."""
        if len(crops) == 0:
            return np.zeros(0, np.float32)
        if self.family == "sklearn":
            from deepfake_detect.models.features import crop_features

            return self.model.predict_proba(crop_features(crops))[:, 1].astype(np.float32)
        probs = []
        for start in range(0, len(crops), batch_size):
            batch = resize_batch(crops[start : start + batch_size], self.input_size)
            probs.append(self._flip_mean(np.asarray(self._keras_predict(self._with_mirrors(batch))).reshape(-1)))
        return np.concatenate(probs).astype(np.float32)

    def _keras_predict(self, batch: np.ndarray) -> np.ndarray:
        # predict_on_batch: plain model.predict is slower and erratic on small CPU batches
        return self.model.predict_on_batch(batch)

    def _with_mirrors(self, batch: np.ndarray) -> np.ndarray:
        """``batch`` with its mirrored faces after it when the record says ``test_time_flip``: one model call."""
        return np.concatenate([batch, batch[:, :, ::-1]]) if self.record.test_time_flip else batch

    def _flip_mean(self, probs: np.ndarray) -> np.ndarray:
        """Outputs of :meth:`_with_mirrors`' batch → one P per face: the mean logit of a face and its mirror."""
        if not self.record.test_time_flip:
            return probs
        half = len(probs) // 2
        return mean_logit([probs[:half], probs[half:]])

    def pooled_features(self, crops: list[np.ndarray] | np.ndarray, batch_size: int = 32) -> np.ndarray:
        """The model's penultimate (pooled) features; hand-made features for scikit-learn models."""
        if len(crops) == 0:
            return np.zeros((0, 0), np.float32)
        if self.family == "sklearn":
            from deepfake_detect.models.features import crop_features

            return crop_features(crops).astype(np.float32)
        if self._embedder is None:
            import keras

            layer = self.model.get_layer(self.embedding_layer)
            self._embedder = keras.Model(self.model.inputs, layer.output)
        feats = []
        for start in range(0, len(crops), batch_size):
            batch = resize_batch(crops[start : start + batch_size], self.input_size)
            feats.append(np.asarray(self._embedder.predict_on_batch(batch)))
        return np.concatenate(feats).reshape(len(crops), -1).astype(np.float32)

    def embed(self, crops: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """Compact embedding: pooled features projected on the stored PCA (raw features without one)."""
        return self._project(self.pooled_features(crops))

    def _project(self, feats: np.ndarray) -> np.ndarray:
        none = self.projection is None or len(feats) == 0
        return feats if none else project(self.projection, feats).astype(np.float32)

    def score(self, crops: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Crops (N, S, S, 3) RGB uint8 → (calibrated P(FAKE) (N,), embeddings (N, E)) in ONE forward
        pass (Keras: a two-output view of the same weights), one call at a time (TF uses every core)."""
        if len(crops) == 0:
            return np.zeros(0, np.float32), np.zeros((0, 0), np.float32)
        with self._lock:
            if self.family == "sklearn":
                return self.predict(crops), self.embed(crops)
            if self._dual is None:
                import keras

                pooled = self.model.get_layer(self.embedding_layer)
                self._dual = keras.Model(self.model.inputs, [self.model.output, pooled.output])
            probs, feats = [], []
            for start in range(0, len(crops), batch_size):
                batch = resize_batch(crops[start : start + batch_size], self.input_size)
                p, f = self._dual.predict_on_batch(self._with_mirrors(batch))
                probs.append(self._flip_mean(np.asarray(p).reshape(-1)))
                feats.append(np.asarray(f)[: len(batch)].reshape(len(batch), -1))  # the faces' own, not the mirrors'
        emb = self._project(np.concatenate(feats).astype(np.float32))
        return self.calibration.apply(np.concatenate(probs)), emb

    def explain(self, crops: np.ndarray) -> list[bytes]:
        """Grad-CAM PNG overlays, one per crop (Keras models only)."""
        refusal = explain_refusal(self.family, self.tag)
        if refusal is not None:
            raise ExplainUnavailableError(refusal)
        with self._lock:
            if self._gradcam is None:
                try:
                    self._gradcam = GradCam(self.model, self.input_size, self.embedding_layer)
                except GradCamError as exc:
                    raise ExplainUnavailableError(f"model {self.tag}: {exc}") from exc
            return self._gradcam.overlays(crops)

    def copy_to(self, dest: Path) -> None:
        """Copy the model folder to ``dest`` (a release being written)."""
        shutil.copytree(self.folder, dest)


@dataclass
class EnsemblePredictor(Predictor):
    """An ensemble (:mod:`deepfake_detect.models.ensemble`): every member scores the whole batch once, and
    P(FAKE) is the ensemble's calibration of the mean of the members' calibrated logits. The embedding
    (request log, drift, OOD test) is the lead member's (``members[0]``, the strongest at promotion);
    Grad-CAM is the strongest Keras member's."""

    members: list[Predictor] = field(default_factory=list)

    def predict_raw(self, crops: list[np.ndarray] | np.ndarray, batch_size: int = 32) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros(0, np.float32)
        return mean_logit([m.predict(crops, batch_size) for m in self.members])

    def pooled_features(self, crops: list[np.ndarray] | np.ndarray, batch_size: int = 32) -> np.ndarray:
        return self.members[0].pooled_features(crops, batch_size)

    def score(self, crops: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`Predictor.score`: the lead member's one pass gives its P(FAKE) and the embedding,
        the others their P(FAKE)."""
        if len(crops) == 0:
            return np.zeros(0, np.float32), np.zeros((0, 0), np.float32)
        with self._lock:
            lead_p, feats = self.members[0].score(crops, batch_size)  # members have no projection: pooled features
            probs = [lead_p, *(m.predict(crops, batch_size) for m in self.members[1:])]
        return self.calibration.apply(mean_logit(probs)), self._project(feats)

    def explain(self, crops: np.ndarray) -> list[bytes]:
        explainer = next((m for m in self.members if m.family == "keras"), None)
        if explainer is None:
            raise ExplainUnavailableError(f"ensemble {self.tag} has no Keras member: Grad-CAM needs one")
        return explainer.explain(crops)

    def copy_to(self, dest: Path) -> None:
        """The ensemble's folder, and one folder per member under ``members/`` with its record as loaded
        (its calibration): a release holds its members' artifacts, never a path to a training folder."""
        dest.mkdir(parents=True)
        shutil.copy2(self.folder / RECORD_FILE, dest / RECORD_FILE)
        for m in self.members:
            m.copy_to(dest / MEMBERS_DIR / m.name)
            m.record.write(dest / MEMBERS_DIR / m.name / RECORD_FILE)


def project(projection: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """Pooled features (N, D) on a PCA projection (``mean``, ``components``: ``projection.npz``) → (N, k)."""
    return (features - projection["mean"]) @ projection["components"].T


def _projection(folder: Path) -> dict[str, np.ndarray] | None:
    if not (folder / PROJECTION_FILE).exists():
        return None
    with np.load(folder / PROJECTION_FILE) as npz:
        return {"mean": npz["mean"], "components": npz["components"]}


def _load_ensemble(folder: Path, record: ModelRecord, prior_fake: float | None) -> EnsemblePredictor:
    """An ensemble with its members: in ``members/`` (a release), else the model folders beside it (trained)."""
    inside = folder / MEMBERS_DIR
    home = inside if inside.is_dir() else folder.parent
    if not record.members:
        raise ModelLoadError(f"{folder}: {RECORD_FILE} of an ensemble names no members")
    if missing := [n for n in record.members if not (home / n / RECORD_FILE).exists()]:
        raise ModelLoadError(f"{folder}: ensemble members {missing} not found in {home} (train them first)")
    members = [load_predictor(home / n) for n in record.members]  # members score at their own (val) prior
    record = ensemble_record(record, [m.record for m in members])
    return EnsemblePredictor(folder, record, None, _projection(folder), prior_fake, members=members)


def load_predictor(folder: str | Path, prior_fake: float | None = None) -> Predictor:
    """Load a model folder written by train/promote (see the module docstring for its layout), its
    P(FAKE) shifted to a deployment where ``prior_fake`` of the faces are FAKE (None: no shift)."""
    folder = Path(folder)
    record = read_record(folder)
    try:
        (record.calibration or IDENTITY).at_prior(prior_fake)
    except ContractError as exc:
        raise ModelLoadError(f"{folder}: {exc}") from exc
    if record.family == "ensemble":
        return _load_ensemble(folder, record, prior_fake)
    artifact = folder / record.artifact
    if not artifact.is_file():
        raise ModelLoadError(f"{folder}: artifact {record.artifact!r} named in {RECORD_FILE} is missing")
    if record.family == "keras":
        import keras

        model = keras.models.load_model(artifact, compile=False)
    else:  # the contract allows keras | sklearn | ensemble
        import joblib

        model = joblib.load(artifact)
    return Predictor(folder, record, model, _projection(folder), prior_fake)
